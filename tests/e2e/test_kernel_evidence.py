"""Kernel evidence through the whole stack: collectors on the agents, samples in the run.

A partition with traffic across it shows failed connects or retransmits on the client's
host (web) while it is on; a partition that cuts nothing in use is reported as "fault
applied, no effect seen" and the run does not pass.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from drills.cli import workers
from ebpf.netns import enter_netns
from tests.conftest import free_port
from tests.e2e.stack import ROOT, Stack, active_queues, cli, start_redis

FIXTURES = ROOT / "tests" / "fixtures" / "playbooks" / "e2e"
SIGNS = ("kernel.tcp_connect_failures", "kernel.tcp_retransmits")


def run(stack: Stack, name: str, tmp_path: Path) -> tuple[dict[str, Any], str]:
    out = cli(stack.env, "run", str(FIXTURES / name), "--json", str(tmp_path / "run.json"))
    return json.loads((tmp_path / "run.json").read_text()), out.stdout + out.stderr


def kernel(events: list[dict[str, Any]], host: str, probe: str) -> list[dict[str, Any]]:
    return [
        e
        for e in events
        if e["type"] == "sample" and e["data"]["probe"] == probe and e["data"].get("host") == host
    ]


class Connects(threading.Thread):
    """TCP connects from ``netns`` to ``address`` every 100 ms, until stopped (bounded)."""

    def __init__(self, netns: str, address: tuple[str, int], limit: int = 400) -> None:
        super().__init__(daemon=True)
        self.netns, self.address, self.limit = netns, address, limit
        self.stop = threading.Event()

    def run(self) -> None:
        enter_netns(self.netns)
        for _ in range(self.limit):
            if self.stop.wait(0.1):
                return
            try:
                socket.create_connection(self.address, timeout=0.3).close()
            except OSError:
                pass


@pytest.mark.timeout(120)
def test_a_partition_shows_failed_connects_on_the_client_host_only(
    stack: Stack, tmp_path: Path
) -> None:
    # The same traffic from a namespace that is cut off (web) and one that is not (db2).
    traffic = [Connects(ns, ("10.77.0.3", 6379)) for ns in ("dh-web", "dh-db2")]
    for thread in traffic:
        thread.start()
    try:
        doc, output = run(stack, "evidence-partition.yaml", tmp_path)
    finally:
        for thread in traffic:
            thread.stop.set()
            thread.join(timeout=5)
    events = doc["events"]
    assert doc["result"]["state"] == "passed", output
    started = {
        e["data"]["host"]: e["data"]["collectors"] for e in events if e["type"] == "collectors"
    }
    # The playbook's collectors, plus the proof-of-effect ones on both ends of the partition.
    assert {c["name"] for c in started["web"]} == {"tcp_connect", "tcp_resets", "tcp_retransmits"}
    assert {c["name"] for c in started["db1"]} >= {"syscall_latency", "tcp_connect"}
    assert {c["name"] for c in started["db2"]} == {"tcp_connect"}
    assert all(c["source"] == "ebpf" for cs in started.values() for c in cs), started

    applied = next(e for e in events if e["type"] == "fault_applied")
    reverted = next(e for e in events if e["type"] == "fault_reverted")
    during = sum(
        e["data"]["value"]
        for probe in SIGNS
        for e in kernel(events, "web", probe)
        if applied["t"] < e["data"]["at"] <= reverted["t"] + 1.0
    )
    before = sum(
        e["data"]["value"]
        for probe in SIGNS
        for e in kernel(events, "web", probe)
        if e["data"]["at"] <= applied["t"]
    )
    print(f"web: {during:g} failed connects + retransmits during, {before:g} before")
    assert before == 0
    assert during > 0
    # db2 made as many connects to db1 meanwhile, and none failed.
    db2 = [
        e["data"]
        for e in events
        if e["type"] == "sample"
        and e["data"].get("host") == "db2"
        and applied["t"] < e["data"]["at"] <= reverted["t"]
    ]
    attempts = sum(d["value"] for d in db2 if d["probe"] == "kernel.tcp_connect_attempts")
    failures = sum(d["value"] for d in db2 if d["probe"] == "kernel.tcp_connect_failures")
    print(f"db2: {attempts:g} connect attempts, {failures:g} failures during the fault")
    assert attempts >= 20
    assert failures == 0
    # Samples arrive once per interval per metric, with zeros: a steady series, not gaps.
    assert len(kernel(events, "web", "kernel.tcp_connect_attempts")) >= 6
    assert not [e for e in events if e["type"] == "no_effect"]


@pytest.mark.timeout(120)
def test_a_partition_that_cuts_nothing_in_use_says_no_effect_seen(
    stack: Stack, tmp_path: Path
) -> None:
    doc, output = run(stack, "no-effect-partition.yaml", tmp_path)
    events = doc["events"]
    assert doc["result"]["state"] == "failed", output
    [warning] = [e["data"] for e in events if e["type"] == "no_effect"]
    assert warning["kind"] == "network.partition"
    assert set(warning["hosts"]) == {"db1", "web"}
    assert "fault applied, no effect seen" in warning["message"]
    assert "no effect seen" in doc["result"]["reason"]


def slow_reads(events: list[dict[str, Any]], host: str, start: float, end: float) -> int:
    """Reads of 32 ms or more on ``host`` in samples ending in (start, end]."""
    return sum(
        n
        for e in kernel(events, host, "kernel.read_latency_ms")
        if start < e["data"]["at"] <= end
        for bound, n in e["data"].get("buckets", {}).items()
        if float(bound) > 32
    )


@pytest.mark.timeout(120)
def test_an_io_delay_drill_shifts_the_read_latency_seen_by_the_kernel(
    stack: Stack, tmp_path: Path
) -> None:
    files = stack.state_dir / "lab" / "data" / "files"
    assert files.is_dir()
    playbook = tmp_path / "io-delay-reads.yaml"
    playbook.write_text(
        (FIXTURES / "io-delay-reads.yaml").read_text().replace("FILES_DIR", str(files))
    )
    out = cli(stack.env, "run", str(playbook), "--json", str(tmp_path / "run.json"))
    doc = json.loads((tmp_path / "run.json").read_text())
    events = doc["events"]
    assert doc["result"]["state"] == "passed", out.stdout + out.stderr
    [started] = [e["data"]["collectors"] for e in events if e["type"] == "collectors"]
    assert started[0]["name"] == "syscall_latency" and started[0]["source"] == "ebpf"
    applied = next(e for e in events if e["type"] == "fault_applied")
    reverted = next(e for e in events if e["type"] == "fault_reverted")
    first = min(e["data"]["at"] for e in kernel(events, "web", "kernel.read_latency_ms"))
    before = slow_reads(events, "web", first - 1, applied["t"])
    during = slow_reads(events, "web", applied["t"] + 1.0, reverted["t"])
    print(f"reads over 32 ms on web: {before} before, {during} during the fault")
    assert before == 0
    # A read every 200 ms for about 5 s, each held 50 ms by the FUSE layer.
    assert during >= 10
    # The service's own clients saw the same: reads answered, and 50 ms slower.
    reads = [
        e["data"]
        for e in events
        if e["type"] == "sample"
        and e["data"]["probe"] == "reads"
        and applied["t"] + 1.0 < e["t"] <= reverted["t"]
    ]
    assert reads and all(r["ok"] and r["latency_ms"] >= 45 for r in reads)


@pytest.mark.timeout(120)
def test_an_io_delay_on_a_directory_nobody_uses_says_no_effect_seen(
    stack: Stack, tmp_path: Path
) -> None:
    unused = stack.state_dir / "lab" / "data" / "unused"
    unused.mkdir(exist_ok=True)
    playbook = tmp_path / "io-delay-unused.yaml"
    text = (FIXTURES / "io-delay-unused.yaml").read_text().replace("UNUSED_DIR", str(unused))
    playbook.write_text(text)
    out = cli(stack.env, "run", str(playbook), "--json", str(tmp_path / "run.json"))
    doc = json.loads((tmp_path / "run.json").read_text())
    events = doc["events"]
    assert doc["result"]["state"] == "failed", out.stdout + out.stderr
    # No kernel: section in the playbook: the proof collector came by itself.
    [started] = [e["data"]["collectors"] for e in events if e["type"] == "collectors"]
    assert [c["name"] for c in started] == ["syscall_latency"]
    [warning] = [e["data"] for e in events if e["type"] == "no_effect"]
    assert warning["judged"] is True and warning["kind"] == "io.delay"
    assert "fault applied, no effect seen" in warning["message"]


@pytest.mark.timeout(180)
def test_with_ebpf_off_the_run_says_proc_and_the_fallback_still_proves_the_partition(
    stack: Stack, tmp_path: Path
) -> None:
    # Agents of this test's own (own broker, own ledgers) with eBPF forced off, beside the
    # stack's ones, which keep theirs.
    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    env = {**stack.env, "REDIS_URL": broker, "DRILLHALL_EBPF": "off"}
    redis_proc = start_redis(port, tmp_path / "redis.log")
    procs = []
    traffic = Connects("dh-web", ("10.77.0.3", 6379))
    try:
        for name, argv in (
            ("orchestrator", workers.orchestrator_argv(f"orch-proc-{port}")),
            *(
                (f"agent-{host}", [*workers.agent_argv(host, netns, broker), "--state-dir",
                                   str(tmp_path / f"agent-{host}")])
                for host, netns in (("web", "dh-web"), ("db1", "dh-db1"), ("db2", "dh-db2"))
            ),
        ):  # fmt: skip
            log = (tmp_path / f"{name}.log").open("ab")
            procs.append(
                subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            )
        agents = {"agent.web", "agent.db1", "agent.db2"}
        wanted = {"orchestrator"} | agents
        deadline = time.monotonic() + 60
        while not wanted <= active_queues(broker, agents):
            assert time.monotonic() < deadline, "own workers did not come up"
            time.sleep(0.5)
        traffic.start()
        out = cli(env, "run", str(FIXTURES / "evidence-partition.yaml"), "--json",
                  str(tmp_path / "run.json"))  # fmt: skip
    finally:
        traffic.stop.set()
        traffic.join(timeout=5)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=20)
        redis_proc.kill()
        redis_proc.wait(timeout=5)
    doc = json.loads((tmp_path / "run.json").read_text())
    events = doc["events"]
    assert doc["result"]["state"] == "passed", out.stdout + out.stderr
    started = [c for e in events if e["type"] == "collectors" for c in e["data"]["collectors"]]
    by_name = {c["name"]: c for c in started}
    # syscall_latency has no /proc equivalent: it says so instead of running something else.
    assert by_name.pop("syscall_latency")["source"] is None
    assert by_name and all(c["source"] == "proc" for c in by_name.values()), started
    assert all("DRILLHALL_EBPF=off" in c["reason"] for c in started), started
    assert not [e for e in events if e["type"] == "no_effect"]
    applied = next(e for e in events if e["type"] == "fault_applied")
    reverted = next(e for e in events if e["type"] == "fault_reverted")
    web = [
        e["data"]
        for e in kernel(events, "web", "kernel.tcp_retransmits")
        + kernel(events, "web", "kernel.tcp_connect_failures")
        if applied["t"] < e["data"]["at"] <= reverted["t"] + 1.0
    ]
    print(f"/proc on web: {sum(d['value'] for d in web):g} retransmits + failed connects")
    assert web and all(d["source"] == "proc" for d in web)
    assert sum(d["value"] for d in web) > 0
