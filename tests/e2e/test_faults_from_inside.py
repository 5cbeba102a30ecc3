"""Every fault kind, applied and reverted by agents that run inside their hosts' namespaces
(as remote agents on machines of their own): one drill through the whole stack.

The faults used to be injected from the root namespace into the hosts'; now the agents live
in them, so this checks, kind by kind, that apply and revert still work there (nftables, the
proxies, the DNS stub, FUSE, signals, stress workers), that their effects show where they are
cheap to see from outside, and that no fault cut its own agent off: a loss of every packet to
the broker's port on the agent's own host is among them, and no agent's worker restarted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.stack import LAB_HOSTS, Stack, cli, nft_tables, proxy_processes

DRILL = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {name: faults-from-inside, description: every fault kind by agents inside their hosts}
targets:
  app: {host: web}
  files: {host: web, service: files}
  db: {host: db1}
  replica: {host: db2}
probes:
  - name: checkout
    http: {url: "http://web:8080/checkout", timeout: 1s}
    every: 250ms
  - name: writes
    http: {url: "http://web:8081/write", timeout: 1s}
    every: 500ms
steps:
  - wait: 1s
  - {name: cut own broker port, fault: network.loss, target: app, ports: [%(broker_port)d],
     loss: 100%%, duration: 3s}
  - {name: slow redis, fault: network.latency, target: app, to: [db], ports: [6379],
     latency: 100ms, duration: 3s}
  - {name: hold redis, fault: network.timeout, target: db, ports: [6379], mode: hold,
     duration: 2s}
  - {name: reset sentinel, fault: network.reset, target: replica, ports: [26379], duration: 2s}
  - {name: narrow db2, fault: network.bandwidth, target: replica, rate: 1mbit, duration: 2s}
  - {name: no names, fault: network.dns, target: app, pattern: "*.lab", answer: servfail,
     duration: 2s}
  - {name: failing writes, fault: io.error, target: files, path: "%(files)s", error: EIO,
     share: 100%%, operations: [write], duration: 3s}
  - {name: kill worker, fault: process.kill, target: app, match: {name: shop-worker},
     signal: SIGKILL}
  - wait: 2s  # its supervisor starts it again
  - {name: pause worker, fault: process.pause, target: app, match: {name: shop-worker},
     duration: 2s}
  - {name: busy cpu, fault: stress.cpu, target: app, cores: 1, load: 20%%, duration: 2s}
  - {name: busy memory, fault: stress.memory, target: app, bytes: 32MiB, duration: 2s}
limits: {max_duration: 5m}
"""
KINDS = [
    "network.loss", "network.latency", "network.timeout", "network.reset", "network.bandwidth",
    "network.dns", "io.error", "process.kill", "process.pause", "stress.cpu", "stress.memory",
]  # fmt: skip


def during(events: list[dict[str, Any]], kind: str, probe: str) -> list[dict[str, Any]]:
    """The probe's samples while the fault of that kind was on."""
    (applied,) = [e for e in events if e["type"] == "fault_applied" and e["data"]["kind"] == kind]
    fault_id = applied["data"]["fault_id"]
    (reverted,) = [
        e for e in events if e["type"] == "fault_reverted" and e["data"]["fault_id"] == fault_id
    ]
    return [
        e["data"]
        for e in events
        if e["type"] == "sample"
        and e["data"]["probe"] == probe
        and applied["t"] + 0.3 < e["t"] < reverted["t"]
    ]


@pytest.mark.timeout(300)
def test_every_fault_kind_works_from_an_agent_inside_its_host(stack: Stack, tmp_path: Path) -> None:
    port = urlsplit(stack.env["REDIS_URL"]).port or 6379
    files = stack.state_dir / "lab" / "data" / "files"
    playbook = tmp_path / "faults-from-inside.yaml"
    playbook.write_text(DRILL % {"broker_port": port, "files": files})
    workers = {h: (stack.state_dir / "agents" / h / "worker.pid").read_text() for h in LAB_HOSTS}
    shop_worker = stack.state_dir / "lab" / "run" / "shop-worker.pid"
    before = shop_worker.read_text()

    out = cli(stack.env, "run", str(playbook), "--json", str(tmp_path / "run.json"), timeout=240)
    doc = json.loads((tmp_path / "run.json").read_text())
    events = doc["events"]
    output = out.stdout + out.stderr
    assert doc["result"]["state"] != "error", output

    applied = [e["data"] for e in events if e["type"] == "fault_applied"]
    assert [a["kind"] for a in applied] == KINDS, output
    reverted = {e["data"]["fault_id"]: e["data"] for e in events if e["type"] == "fault_reverted"}
    assert set(reverted) == {a["fault_id"] for a in applied}, output
    problems = ("error", "fault_ended_early", "fault_unconfirmed", "lease_warning")
    assert not [e for e in events if e["type"] in problems], output

    # What each did, seen from outside where that is cheap.
    writes = during(events, "io.error", "writes")
    assert writes and not any(s["ok"] for s in writes), writes
    slow = [s["latency_ms"] for s in during(events, "network.latency", "checkout") if s["ok"]]
    assert slow and min(slow) >= 250, slow  # three Redis round trips per checkout
    assert shop_worker.read_text() != before  # killed, and restarted by its supervisor

    # No fault cut its own agent off (the first one took the broker's port on web): no worker
    # restarted, and nothing is left behind.
    now = {h: (stack.state_dir / "agents" / h / "worker.pid").read_text() for h in LAB_HOSTS}
    assert now == workers
    assert all(nft_tables(netns) == [] for netns, _ in LAB_HOSTS.values())
    assert proxy_processes() == []
    assert "drillhall" not in Path("/proc/mounts").read_text()
