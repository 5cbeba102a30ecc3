"""No fault outlives what drives it: orchestrator SIGKILL, a lost Redis, halt all, duplicate
deliveries and crashes in the middle of an apply.

Every effect is measured from outside (ping between lab namespaces, `nft list tables` inside
db1's), against the session stack (lease 4 s) or, for the Redis outage, a Redis server of the
test's own with its own orchestrator and agent, so the rest of the suite keeps its broker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings

from drills.cli import workers
from injector.faults.catalogue import build_fault
from injector.janitor import Janitor
from injector.ledger import EntryState, Ledger
from injector.protocol import AgentTask, FaultSpec, RevertRequest, agent_task_id, new_run_key
from injector.signing import ensure_agent_key, load_key
from tests.browser import chromium_page
from tests.conftest import free_port, server_redis_url
from tests.e2e.stack import (
    ROOT,
    Stack,
    active_queues,
    cli,
    ensure_cli_user,
    nft_tables,
    ns_ping,
    start_redis,
)
from tests.injector.agent_client import AgentClient

LEASE = 4.0  # DRILLHALL_LEASE_SECONDS in the stack
RUN_LEASE = 4.0  # DRILLHALL_RUN_LEASE_SECONDS in the stack
LONG_PARTITION = ROOT / "tests" / "fixtures" / "playbooks" / "e2e" / "long-partition.yaml"
TWO_PARTITIONS = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {name: two-partitions, description: db1 and db2 cut off from web at once}
targets:
  web: {host: web}
  db: {host: db1}
  replica: {host: db2}
probes:
  - name: checkout
    http: {url: "http://web:8080/checkout", timeout: 1s}
    every: 500ms
steps:
  - wait: 1s
  - parallel:
      - {fault: network.partition, target: db, from: [web], duration: 60s}
      - {fault: network.partition, target: replica, from: [web], duration: 60s}
"""
SHORT_PARTITION = (
    ROOT / "tests" / "fixtures" / "playbooks" / "e2e" / "short-partition.yaml"
).read_text()


def wait_for(predicate, timeout: float, interval: float = 0.1) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; {lab_state()}")


def lab_state() -> str:
    return (
        f"web->db1 {ns_ping('dh-web', '10.77.0.3')}, db1->web {ns_ping('dh-db1', '10.77.0.2')}, "
        f"db1 tables {nft_tables('dh-db1')}, db2 tables {nft_tables('dh-db2')}"
    )


def partitioned(netns: str = "dh-web", address: str = "10.77.0.3") -> bool:
    return not ns_ping(netns, address)


def db1_clean() -> bool:
    """The partition is gone: ping both ways and no drillhall table in db1."""
    return (
        ns_ping("dh-web", "10.77.0.3")
        and ns_ping("dh-db1", "10.77.0.2")
        and not nft_tables("dh-db1")
    )


def start_run(env: dict[str, str], playbook: Path) -> subprocess.Popen[str]:
    ensure_cli_user(env)
    return subprocess.Popen(
        [sys.executable, "-m", "drills.cli.main", "run", str(playbook)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(proc: subprocess.Popen[str] | subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> str:
    if proc.poll() is None:
        proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    return out if isinstance(out, str) else ""


def assert_run_page_says(stack: Stack, password: str, run_id: int, reason: str) -> None:
    """The run page, as a person sees it: the state and the reason, in a real browser."""
    with chromium_page() as page:
        page.goto(stack.url + "/accounts/login/")
        page.fill("input[name=username]", "owner")
        page.fill("input[name=password]", password)
        page.click("button[type=submit], input[type=submit]")
        page.goto(f"{stack.url}/runs/{run_id}/")
        page.wait_for_function(
            "document.querySelector('#run-state').textContent.trim() === 'error'", timeout=15_000
        )
        assert reason in page.inner_text("body")


def wait_queues(redis_url: str, wanted: set[str], timeout: float = 40) -> None:
    agents = wanted - {"orchestrator"}
    wait_for(lambda: wanted <= active_queues(redis_url, agents), timeout, interval=0.5)


@pytest.fixture
def clean_db1() -> Iterator[None]:
    assert db1_clean(), "db1 is partitioned before the test: an earlier test left a fault"
    yield
    # Whatever happened, the next test must find the lab whole.
    wait_for(db1_clean, LEASE + 5)


# -- orchestrator crash ---------------------------------------------------------------------


def test_sigkill_of_the_orchestrator_reverts_the_partition_and_ends_the_run(
    stack: Stack, clean_db1: None, e2e_password: str
) -> None:
    run = start_run(stack.env, LONG_PARTITION)
    try:
        wait_for(lambda: partitioned() and bool(nft_tables("dh-db1")), timeout=40)
        orchestrator = stack.procs["orchestrator"]
        os.killpg(orchestrator.pid, signal.SIGKILL)  # the worker and anything it forked
        killed = time.monotonic()
        wait_for(db1_clean, timeout=LEASE + 3, interval=0.05)
        restored = time.monotonic() - killed
        print(f"partition gone {restored:.2f} s after SIGKILL of the orchestrator")
        assert restored <= LEASE + 1.5, f"partition outlived the orchestrator by {restored:.1f}s"
        orchestrator.wait(timeout=10)
        # drillhall run does not wait for ever: it ends the run and exits 3 with the reason.
        out, _ = run.communicate(timeout=RUN_LEASE + 10)
        ended = time.monotonic() - killed
        print(f"drillhall run exited {run.returncode} {ended:.2f} s after the SIGKILL")
        assert run.returncode == 3, out
        assert ended <= RUN_LEASE + 10
        assert (
            "verdict: error (orchestrator lost during observing: the network.partition fault "
            "on db1 is reverted, its agent confirms" in out
        ), out
        assert nft_tables("dh-db1") == []
        run_id = int(out.split("run ", 1)[1].split(":", 1)[0])
        assert_run_page_says(stack, e2e_password, run_id, "orchestrator lost during observing")
    finally:
        stop(run)
        if stack.procs["orchestrator"].poll() is not None:
            stack.start("orchestrator", workers.orchestrator_argv(f"orch2-{stack.port}"))
            wait_queues(stack.env["REDIS_URL"], {"orchestrator"})


# -- Redis outage -------------------------------------------------------------------------------


def server_app(broker: str) -> Celery:
    """A Celery client of the broker, as the server reaches it (its Redis user)."""
    url = server_redis_url(broker)
    return Celery(broker=url, backend=url)


def agent_answers(broker: str, queue: str, timeout: float = 2.0) -> bool:
    app = server_app(broker)
    try:
        result = app.send_task(
            AgentTask.PING, args=[{}], queue=queue, expires=timeout, task_id=agent_task_id("db1")
        )
        return isinstance(result.get(timeout=timeout), dict)
    except Exception:
        return False
    finally:
        app.close()


def test_a_lost_redis_reverts_the_partition_and_the_agent_recovers(
    stack: Stack, clean_db1: None, tmp_path: Path
) -> None:
    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    # Same state dir as the stack (the CLI must see the stack's lab as up), own ledger below.
    env = {**stack.env, "REDIS_URL": broker}
    redis_proc = start_redis(port, tmp_path / "redis.log")
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, argv: list[str]) -> None:
        procs[name] = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=(tmp_path / f"{name}.log").open("ab"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    run = None
    try:
        start("orchestrator", workers.orchestrator_argv(f"orch-own-{port}"))
        ledger = ["--state-dir", str(tmp_path / "agent-db1")]
        start("agent", [*workers.agent_argv("db1", "dh-db1", broker), *ledger])
        wait_queues(broker, {"orchestrator", "agent.db1"})
        run = start_run(env, LONG_PARTITION)
        # The CLI may start an agent for web (kernel collectors watch the partition's peer)
        # and compile the collectors first: a slow start is not what this test measures.
        took = wait_for(lambda: partitioned() and bool(nft_tables("dh-db1")), timeout=90)
        print(f"partition applied {took:.1f} s after the run started")
        redis_proc.send_signal(signal.SIGKILL)
        redis_proc.wait(timeout=10)
        lost = time.monotonic()
        wait_for(db1_clean, timeout=LEASE + 3, interval=0.05)
        restored = time.monotonic() - lost
        print(f"partition gone {restored:.2f} s after Redis died")
        assert restored <= LEASE + 1.5, f"partition outlived Redis by {restored:.1f}s"
        assert procs["agent"].poll() is None, "the agent supervisor died with Redis"

        redis_proc = start_redis(port, tmp_path / "redis.log")
        back = time.monotonic()
        wait_for(lambda: agent_answers(broker, "agent.db1"), timeout=40, interval=0.5)
        print(f"agent answered again {time.monotonic() - back:.2f} s after Redis came back")
        assert db1_clean()
    finally:
        if run is not None:
            stop(run)
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if redis_proc.poll() is None:
            redis_proc.kill()
            redis_proc.wait(timeout=5)


# -- halt all -----------------------------------------------------------------------------------


def test_halt_reverts_every_fault_aborts_the_run_and_refuses_new_ones_until_release(
    stack: Stack, clean_db1: None, tmp_path: Path
) -> None:
    two = tmp_path / "two-partitions.yaml"
    two.write_text(TWO_PARTITIONS)
    short = tmp_path / "short-partition.yaml"
    short.write_text(SHORT_PARTITION)
    run = start_run(stack.env, two)
    try:
        wait_for(lambda: partitioned() and partitioned("dh-web", "10.77.0.4"), timeout=40)
        assert nft_tables("dh-db1") and nft_tables("dh-db2")
        halted_at = time.monotonic()
        out = cli(stack.env, "halt", "--reason", "e2e kill switch", "--as", "owner")
        assert out.returncode == 0, out.stderr + out.stdout
        assert "agent.db1" in out.stdout and "agent.db2" in out.stdout

        def all_clean() -> bool:
            return db1_clean() and ns_ping("dh-web", "10.77.0.4") and not nft_tables("dh-db2")

        wait_for(all_clean, timeout=5, interval=0.05)
        reverted = time.monotonic() - halted_at
        print(f"every fault reverted {reverted:.2f} s after `drillhall halt` was called")
        assert reverted <= 2.0, f"halt took {reverted:.1f}s"
        output, _ = run.communicate(timeout=60)
        assert run.returncode == 3, output
        assert "state: aborted" in output and "halted: e2e kill switch" in output

        # While halted a new run is refused: it ends aborted and never cuts anything.
        refused = start_run(stack.env, short)
        while refused.poll() is None:
            assert db1_clean(), "a fault was applied while halted"
            time.sleep(0.2)
        output = stop(refused)
        assert refused.returncode == 3, output
        assert "halted: e2e kill switch" in output and "fault applied" not in output
    finally:
        stop(run)
        released = cli(stack.env, "release", "--as", "owner")
    assert released.returncode == 0 and "released" in released.stdout

    ok = start_run(stack.env, short)
    try:
        wait_for(partitioned, timeout=40)
        output, _ = ok.communicate(timeout=60)
    finally:
        stop(ok)
    assert "fault applied" in output and "state: aborted" not in output, output
    assert ok.returncode in (0, 1), output


# -- duplicate delivery and crashes mid-apply -----------------------------------------------------


def partition_spec(run: str, lease: float = LEASE) -> FaultSpec:
    return FaultSpec(
        run, 1, 1, "network.partition",
        {"host": "db1", "peers": ["10.77.0.2"], "direction": "both"}, lease,
    )  # fmt: skip


def test_the_same_apply_delivered_twice_through_celery_applies_once(
    stack: Stack, clean_db1: None
) -> None:
    app = server_app(stack.env["REDIS_URL"])
    # Signed as the orchestrator signs, with the key the stack's agent of db1 was given.
    key = load_key(ensure_agent_key(settings.DRILLHALL_CREDENTIALS_DIR, "db1"))
    db1 = AgentClient(app, "db1", key)
    run = new_run_key()
    assert db1.admit(run)["run"] == run
    spec = db1.signed(AgentTask.APPLY, partition_spec(run, lease=30).to_json())
    fault_id = partition_spec(run).fault_id
    try:
        first, second = (
            app.send_task(AgentTask.APPLY, args=[spec], queue="agent.db1", task_id=task_id)
            for task_id in (agent_task_id("db1"), agent_task_id("db1"))
        )
        a, b = first.get(timeout=20), second.get(timeout=20)
        assert a["state"] == b["state"] == "applied"
        assert a["lease_deadline"] == b["lease_deadline"]  # the second did not apply again
        assert nft_tables("dh-db1") == [nft_tables("dh-db1")[0]]
        assert partitioned()
        entry = Ledger(stack.state_dir / "agents" / "db1").get(fault_id)
        assert entry is not None
        assert [h["state"] for h in entry.history] == ["applying", "applied"]
    finally:
        assert db1.call(AgentTask.REVERT, RevertRequest(fault_id).to_json())["state"] == "reverted"
        app.close()
    assert db1_clean()


CRASHER = """
import json, os, signal, sys, time
from injector.protocol import FaultSpec
from injector.host import HostAgent
from injector.ledger import EntryState, Ledger
from injector.faults.catalogue import build_fault

point, state_dir, spec_json = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
spec = FaultSpec.from_json(spec_json)
ledger = Ledger(state_dir)

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "intent":
    ledger.intend(spec, "dh-db1", time.time() + spec.lease_seconds)
    die()
if point == "table":
    ledger.intend(spec, "dh-db1", time.time() + spec.lease_seconds)
    build_fault(spec, "dh-db1").apply()
    die()
HostAgent("db1", "dh-db1", ledger).apply(spec_json)
assert ledger.get(spec.fault_id).state is EntryState.APPLIED
die()
"""


@pytest.mark.parametrize("point", ["intent", "table", "applied"])
def test_a_crash_at_any_point_of_apply_is_reverted_by_a_new_janitor(
    stack: Stack, clean_db1: None, tmp_path: Path, point: str
) -> None:
    state = tmp_path / "ledger"
    spec = partition_spec(new_run_key())
    env = {**os.environ, "DRILLHALL_AGENT_STATE": str(state), "PYTHONPATH": str(ROOT)}
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHER, point, str(state), json.dumps(spec.to_json())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    entry = Ledger(state).get(spec.fault_id)
    expected = EntryState.APPLIED if point == "applied" else EntryState.APPLYING
    assert entry is not None and entry.state is expected
    assert bool(nft_tables("dh-db1")) is (point != "intent")

    # A new process (fresh objects, as after a restart) finds it from the ledger alone.
    os.environ["DRILLHALL_AGENT_STATE"] = str(state)
    try:
        reverted = Janitor(Ledger(state), build_fault).revert_all("recovering after a crash")
    finally:
        os.environ.pop("DRILLHALL_AGENT_STATE", None)
    assert reverted == [spec.fault_id]
    assert db1_clean()
    final = Ledger(state).get(spec.fault_id)
    assert final is not None and final.state is EntryState.REVERTED
