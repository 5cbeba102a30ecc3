"""One example step per fault kind, and exactly what the agent on each host receives for it.

Shared by the planner's parameter test and the catalogue test: a new kind needs an example here,
and both tests name the kind that has none. The examples set optional keys where a kind has them,
so that every parameter the agent can receive is pinned, key order included (the params are
compared as JSON text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drills.engine.plan import PlannedStep, resolve_plan
from drills.playbook.parser import parse_playbook
from tests.playbook.inventory import fixture_inventory

# web 10.77.0.2; "dbs" picks db1 10.77.0.3 and db2 10.77.0.4 (40 % of the five db hosts).
# The targets and probe every example and the planner's tests use (tests/engine/test_plan.py).
TARGETS = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {name: fault-examples}
targets:
  app: {host: web}
  dbs: {selector: {labels: {role: db}}, percent: 40%}
  db: {host: db1, service: redis}
probes:
  - name: checkout
    http: {url: "http://app:8080/checkout"}
"""
HEAD = TARGETS + "steps:\n"


@dataclass(frozen=True)
class FaultExample:
    step: str  # one flow-style YAML step, as an author writes it
    mechanism: str
    params: tuple[dict[str, Any], ...]  # per host the step lands on, in plan order


EXAMPLES: dict[str, FaultExample] = {
    # A host is never its own peer: "db" is db1, a peer of db2 only; a literal address that
    # repeats a target's is given once.
    "network.partition": FaultExample(
        "{fault: network.partition, target: dbs, from: [app, db], "
        "addresses: [192.0.2.7, 10.77.0.2], ports: [6379, 26379], direction: in, duration: 30s}",
        "nftables",
        (
            {"host": "db1", "peers": ["10.77.0.2", "192.0.2.7"], "direction": "in",
             "ports": [6379, 26379]},
            {"host": "db2", "peers": ["10.77.0.2", "10.77.0.3", "192.0.2.7"], "direction": "in",
             "ports": [6379, 26379]},
        ),
    ),
    "network.latency": FaultExample(
        "{fault: network.latency, target: app, to: [dbs], ports: [6379], latency: 150ms, "
        "jitter: 20ms, duration: 30s}",
        "netem-or-proxy",
        ({"host": "web", "destinations": ["10.77.0.3", "10.77.0.4"], "ports": [6379],
          "latency": 0.15, "jitter": 0.02},),
    ),
    "network.loss": FaultExample(
        "{fault: network.loss, target: app, to: db, ports: [6379], loss: 30%, duration: 30s}",
        "nftables",
        ({"host": "web", "destinations": ["10.77.0.3"], "ports": [6379], "loss": 30.0},),
    ),
    "network.bandwidth": FaultExample(
        "{fault: network.bandwidth, target: db, rate: 512kbit, duration: 30s}",
        "tc",
        ({"host": "db1", "rate": "512kbit"},),
    ),
    "network.timeout": FaultExample(
        "{fault: network.timeout, target: db, ports: [6379], mode: drop_syn, duration: 30s}",
        "nftables",
        ({"host": "db1", "ports": [6379], "mode": "drop_syn"},),
    ),
    "network.reset": FaultExample(
        "{fault: network.reset, target: db, ports: [6379, 26379], duration: 30s}",
        "nftables",
        ({"host": "db1", "ports": [6379, 26379]},),
    ),
    "network.dns": FaultExample(
        "{fault: network.dns, target: app, pattern: '*.internal', answer: nxdomain, duration: 30s}",
        "stub-resolver",
        ({"host": "web", "pattern": "*.internal", "answer": "nxdomain"},),
    ),
    "http.error": FaultExample(
        "{fault: http.error, target: app, port: 8080, status: 502, share: 25%, "
        "methods: [GET, POST], path: /api, abort: true, delay: 100ms, duration: 30s}",
        "proxy",
        ({"host": "web", "port": 8080, "status": 502, "share": 25.0, "path": "/api",
          "abort": True, "methods": ["GET", "POST"], "delay": 0.1},),
    ),
    "io.delay": FaultExample(
        "{fault: io.delay, target: db, path: /var/lib/redis, delay: 50ms, share: 50%, "
        "operations: [read, fsync], duration: 30s}",
        "fuse",
        ({"host": "db1", "path": "/var/lib/redis", "delay": 0.05, "share": 50.0,
          "operations": ["read", "fsync"]},),
    ),
    "io.error": FaultExample(
        "{fault: io.error, target: db, path: /var/lib/redis, error: ENOSPC, share: 10%, "
        "operations: [write], duration: 30s}",
        "fuse",
        ({"host": "db1", "path": "/var/lib/redis", "error": "ENOSPC", "share": 10.0,
          "operations": ["write"]},),
    ),
    "process.kill": FaultExample(
        "{fault: process.kill, target: db, match: {pidfile: /run/redis.pid}, signal: SIGTERM, "
        "count: 2}",
        "signal",
        ({"host": "db1", "match": {"pidfile": "/run/redis.pid"}, "signal": "SIGTERM",
          "count": 2},),
    ),
    "process.pause": FaultExample(
        "{fault: process.pause, target: db, match: {cgroup: system.slice/redis.service}, "
        "duration: 10s}",
        "signal",
        ({"host": "db1", "match": {"cgroup": "system.slice/redis.service"}},),
    ),
    "stress.cpu": FaultExample(
        "{fault: stress.cpu, target: app, cores: 2, load: 75%, duration: 30s}",
        "stress",
        ({"host": "web", "cores": 2, "load": 75.0},),
    ),
    "stress.memory": FaultExample(
        "{fault: stress.memory, target: app, bytes: 256MiB, duration: 30s}",
        "stress",
        ({"host": "web", "bytes": 256 * 1024**2},),
    ),
}  # fmt: skip


def planned_example(kind: str) -> PlannedStep:
    """The planned step of the example for ``kind`` on the fixture inventory."""
    playbook = parse_playbook(HEAD + "  - " + EXAMPLES[kind].step + "\n", f"{kind}.yaml")
    (step,) = resolve_plan(playbook, fixture_inventory()).steps
    return step
