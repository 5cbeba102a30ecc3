"""The run loop in real time, kept for what a fake clock cannot prove.

Each test here runs on the system clock with the probe pool's threads and real probes:
* a drill against a real loopback HTTP service: the threaded pool, real HTTP probes and the
  real-time tick loop give the same states, verdicts and RTO as the fake-clock tests;
* every probe kind sampling in its thread (tcp, DNS, Redis canary, Prometheus);
* a probe ``from`` a host sampling inside that host's network namespace (setns per thread).
The run loop's logic is tested on the fake clock in test_runner.py.
"""

from __future__ import annotations

from drills.engine.events import EventType, MemorySink
from drills.engine.plan import HostInfo, resolve_plan
from drills.engine.runner import DrillRunner, RunOptions
from drills.engine.states import RunState
from drills.playbook.parser import parse_playbook
from tests.conftest import have_root, require
from tests.engine.fakes import INVENTORY, FakeDriver, Service
from tests.engine.reading import first, namespaced_playbook, samples_of, states
from tests.verifier.probes.dns_server import dns_server
from tests.verifier.probes.servers import (
    PrometheusStub,
    free_port,
    listen_in,
    redis_server,
    scratch_namespace,
)
from verifier.probes.canary import RedisCanary

PLAYBOOK = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {{name: real-time-drill}}
targets:
  app: {{host: h1}}
  db: {{host: h2}}
probes:
  - name: shop
    http: {{url: "http://127.0.0.1:{port}/", timeout: 1s}}
    every: 100ms
steps:
  - wait: 600ms
  - {{fault: network.partition, target: db, from: [app], duration: 1s}}
slas:
  - name: healthy first
    assert: error_rate(shop, 600ms) < 10%
    during: before
  - name: broken during
    assert: error_rate(shop, 600ms) > 50%
    during: fault
  - name: recovers
    assert: error_rate(shop, 600ms) < 10%
    during: recovery
objectives: {{rto: 10s}}
"""


def test_a_drill_in_real_time_with_probe_threads_and_a_real_service(service: Service) -> None:
    playbook = parse_playbook(PLAYBOOK.format(port=service.port))
    driver = FakeDriver(service)
    sink = MemorySink()
    runner = DrillRunner(
        "7", playbook, resolve_plan(playbook, INVENTORY), driver, sink,
        options=RunOptions(lease_seconds=0.6, settle_seconds=0.5, tick_seconds=0.05),
    )  # fmt: skip
    outcome = runner.run()
    assert outcome.state is RunState.PASSED, outcome
    assert states(sink) == [
        "preflight", "baseline", "injecting", "observing", "reverting", "recovering", "passed",
    ]  # fmt: skip
    assert set(outcome.verdicts.values()) == {"passed"}
    assert outcome.rto is not None and 1.0 <= outcome.rto <= 3.0
    assert ("renew", "r7-s2-a1") in driver.calls
    applied = first(sink, EventType.FAULT_APPLIED)[1]
    reverted = first(sink, EventType.FAULT_REVERTED)[1]
    assert 0.95 <= reverted - applied <= 1.4  # real seconds


EVERY_KIND = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {{name: every-probe}}
targets:
  app: {{host: h1}}
probes:
  - name: port
    tcp: {{host: 127.0.0.1, port: {http_port}, timeout: 1s}}
    every: 100ms
  - name: orders
    canary: {{redis: {{address: "127.0.0.1:{redis_port}", key_prefix: "drillhall:test:run:"}}}}
    every: 100ms
  - name: depth
    prometheus: {{url: "{prom_url}", query: "sum(queue_depth)", timeout: 1s}}
    every: 100ms
  - name: resolve
    dns: {{name: db1.lab, server: 127.0.0.1, port: {dns_port}, timeout: 1s}}
    every: 100ms
steps:
  - wait: 700ms
"""


def test_every_probe_kind_samples_during_a_run(service: Service) -> None:
    prom = PrometheusStub()
    prom.document = {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "7"]}]},
    }
    try:
        with redis_server() as redis_port, dns_server({"db1.lab": ["10.77.0.3"]}) as dns:
            text = EVERY_KIND.format(
                http_port=service.port, redis_port=redis_port, prom_url=prom.url, dns_port=dns.port
            )
            playbook = parse_playbook(text)
            sink = MemorySink()
            runner = DrillRunner(
                "11", playbook, resolve_plan(playbook, INVENTORY), FakeDriver(service), sink,
                options=RunOptions(settle_seconds=0.2, tick_seconds=0.05),
            )  # fmt: skip
            outcome = runner.run()
            canary = runner.probes["orders"]
            assert isinstance(canary, RedisCanary)
            acked = canary.acknowledged()
            assert canary.verify() == []  # verify still works after the run closed the probe
    finally:
        prom.close()
    assert outcome.state is RunState.PASSED, outcome
    samples = samples_of(sink)
    assert set(samples) == {"port", "orders", "depth", "resolve"}
    for name, got in samples.items():
        assert 4 <= len(got) <= 12, (name, len(got))  # 700 ms at 100 ms
        assert all(s["ok"] for s in got), (name, got)
    assert {(s["status"], s["value"]) for s in samples["resolve"]} == {(0, 1.0)}  # NOERROR
    # Samples taken after the last tick are not emitted; the canary still remembers them.
    assert len(samples["orders"]) <= len(acked) <= len(samples["orders"]) + 2


def test_a_probe_from_a_host_samples_inside_that_hosts_namespace(service: Service) -> None:
    require(have_root(), "needs root (network namespaces)")
    with scratch_namespace() as namespace:
        port = free_port()
        listener = listen_in(namespace, "127.0.0.1", port)  # only the namespace listens
        try:
            inventory = {**INVENTORY, "h1": HostInfo("h1", "10.0.0.1", "agent.h1", namespace)}
            playbook = parse_playbook(namespaced_playbook(port))
            sink = MemorySink()
            runner = DrillRunner(
                "12", playbook, resolve_plan(playbook, inventory), FakeDriver(service), sink,
                options=RunOptions(settle_seconds=0.2, tick_seconds=0.05),
            )  # fmt: skip
            outcome = runner.run()
        finally:
            listener.close()
    assert outcome.state is RunState.PASSED, outcome
    samples = samples_of(sink)
    assert samples["inside"] and all(s["ok"] for s in samples["inside"])
    assert samples["outside"] and not any(s["ok"] for s in samples["outside"])
