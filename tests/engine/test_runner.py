"""The run loop against a fake agent and a real HTTP service on loopback.

The fake driver stands in for agents (pure logic of the loop); the fault's "effect" is the
loopback service answering 503 while the fault is applied, so verdicts come from real probes.
"""

from __future__ import annotations

import threading
from typing import Any

from drills.engine.events import EventType, MemorySink
from drills.engine.plan import HostInfo, resolve_plan
from drills.engine.runner import DrillRunner, RunOptions
from drills.engine.states import RunState
from drills.playbook.parser import parse_playbook
from injector.protocol import ApplyReply
from tests.conftest import have_root, require
from tests.engine.canary_drill import assert_failed_on_three_lost_writes, run_canary_drill
from tests.engine.fakes import INVENTORY, FakeDriver, LosingDriver, Service
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
metadata: {{name: fake-drill}}
targets:
  app: {{host: h1}}
  db: {{host: h2}}
probes:
  - name: shop
    http: {{url: "http://127.0.0.1:{port}/", timeout: 1s}}
    every: 100ms
steps:
  - wait: 1s
  - fault: network.partition
    target: db
    from: [app]
    duration: 1500ms
slas:
  - name: healthy first
    assert: error_rate(shop, 1s) < 10%
    during: before
  - name: broken during
    assert: error_rate(shop, 1s) > 50%
    during: fault
    on_breach: {on_breach}
  - name: recovers
    assert: error_rate(shop, 1s) < 10%
    during: recovery
objectives: {{rto: 10s}}
"""


def make_runner(service: Service, driver: FakeDriver, on_breach: str = "record", abort=None):  # type: ignore[no-untyped-def]
    playbook = parse_playbook(PLAYBOOK.format(port=service.port, on_breach=on_breach))
    plan = resolve_plan(playbook, INVENTORY)
    sink = MemorySink()
    runner = DrillRunner(
        "7",
        playbook,
        plan,
        driver,
        sink,
        should_abort=abort or (lambda: None),
        options=RunOptions(lease_seconds=0.6, settle_seconds=1.0, tick_seconds=0.05),
    )
    return runner, sink


def states(sink: MemorySink) -> list[str]:
    return [d["state"] for t, d, _ in sink.events if t is EventType.STATE]


def test_run_passes_when_the_fault_breaks_and_recovery_follows(service: Service) -> None:
    driver = FakeDriver(service)
    runner, sink = make_runner(service, driver)
    outcome = runner.run()
    assert outcome.state is RunState.PASSED, outcome
    assert states(sink) == [
        "preflight",
        "baseline",
        "injecting",
        "observing",
        "reverting",
        "recovering",
        "passed",
    ]
    assert outcome.verdicts == {
        "healthy first": "passed",
        "broken during": "passed",
        "recovers": "passed",
    }
    assert outcome.rto is not None and 1.5 <= outcome.rto <= 4.0
    assert ("renew", "r7-s2-a1") in driver.calls  # leases renewed during the 1.5 s step
    assert driver.active == set()


def test_sla_breach_with_abort_reverts_and_ends_aborted(service: Service) -> None:
    driver = FakeDriver(service)
    # "broken during" expects errors; a fault that breaks nothing breaches it.
    driver.apply = lambda q, spec, t: (  # type: ignore[method-assign]
        driver.calls.append(("apply", "x"))
        or driver.active.add("r7-s2-a1")
        or ApplyReply("r7-s2-a1", "h1", "fake", 0.0)
    )
    runner, sink = make_runner(service, driver, on_breach="abort")
    outcome = runner.run()
    assert outcome.state is RunState.ABORTED
    assert "broken during" in outcome.reason
    assert states(sink)[-2:] == ["reverting", "aborted"]
    assert ("revert", "r7-s2-a1") in driver.calls
    types = [t for t, _, _ in sink.events]
    assert types.index(EventType.ABORT) < types.index(EventType.FAULT_REVERTED)


def test_user_abort_mid_fault_reverts_within_a_tick(service: Service) -> None:
    driver = FakeDriver(service)
    requested: dict[str, str] = {}
    runner, sink = make_runner(service, driver, abort=lambda: requested.get("reason"))

    def request_when_applied() -> None:
        while ("apply", "r7-s2-a1") not in driver.calls:
            threading.Event().wait(0.02)
        requested["reason"] = "operator pressed Abort"

    threading.Thread(target=request_when_applied, daemon=True).start()
    outcome = runner.run()
    assert outcome.state is RunState.ABORTED
    assert outcome.reason == "operator pressed Abort"
    applied_t = next(t for k, _, t in sink.events if k is EventType.FAULT_APPLIED)
    reverted_t = next(t for k, _, t in sink.events if k is EventType.FAULT_REVERTED)
    assert reverted_t - applied_t < 1.0  # the step was 1.5 s long
    assert driver.active == set()


def test_missing_agent_is_an_error_before_any_fault(service: Service) -> None:
    driver = FakeDriver(service, dead=True)
    runner, sink = make_runner(service, driver)
    outcome = runner.run()
    assert outcome.state is RunState.ERROR
    assert "agent.h2" in outcome.reason
    assert not any(kind == "apply" for kind, _ in driver.calls)
    assert states(sink) == ["preflight", "reverting", "error"]


PARALLEL = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {{name: parallel-drill}}
targets:
  app: {{host: h1}}
  db: {{host: h2}}
probes:
  - name: shop
    http: {{url: "http://127.0.0.1:{port}/", timeout: 1s}}
    every: 100ms
steps:
  - parallel:
      - {{fault: network.partition, target: db, from: [app], duration: 600ms}}
      - {{fault: network.partition, target: app, from: [db], duration: 1200ms}}
  - wait: 200ms
"""


def test_parallel_faults_apply_together_and_revert_each_at_its_own_end(service: Service) -> None:
    driver = FakeDriver(service)
    playbook = parse_playbook(PARALLEL.format(port=service.port))
    sink = MemorySink()
    runner = DrillRunner(
        "8", playbook, resolve_plan(playbook, INVENTORY), driver, sink,
        options=RunOptions(lease_seconds=5, settle_seconds=0.5, tick_seconds=0.05),
    )  # fmt: skip
    outcome = runner.run()
    assert outcome.state is RunState.PASSED, outcome
    kinds = [k for k, _ in driver.calls if k != "renew"]
    assert kinds == ["apply", "apply", "revert", "revert"]
    times = {
        (t.value, d["host"]): when
        for t, d, when in sink.events
        if t in (EventType.FAULT_APPLIED, EventType.FAULT_REVERTED)
    }
    first = times[("fault_reverted", "h2")] - times[("fault_applied", "h2")]
    second = times[("fault_reverted", "h1")] - times[("fault_applied", "h1")]
    assert 0.55 <= first <= 0.9 and 1.15 <= second <= 1.5
    assert states(sink) == [
        "preflight", "baseline", "injecting", "observing", "reverting", "observing",
        "recovering", "passed",
    ]  # fmt: skip


PAUSE = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {{name: paused-drill}}
targets:
  app: {{host: h1}}
probes:
  - name: shop
    http: {{url: "http://127.0.0.1:{port}/", timeout: 1s}}
    every: 100ms
steps:
  - pause: {{message: "check the dashboards, then resume"}}
  - wait: 100ms
"""


def test_pause_holds_the_run_until_an_operator_resumes(service: Service) -> None:
    playbook = parse_playbook(PAUSE.format(port=service.port))
    sink = MemorySink()
    resumes = {"count": 0}
    runner = DrillRunner(
        "9", playbook, resolve_plan(playbook, INVENTORY), FakeDriver(service), sink,
        resume_count=lambda: resumes["count"],
        options=RunOptions(settle_seconds=0.2, tick_seconds=0.05, abort_poll_seconds=0.05),
    )  # fmt: skip
    timer = threading.Timer(0.8, lambda: resumes.__setitem__("count", 1))
    timer.start()
    outcome = runner.run()
    assert outcome.state is RunState.PASSED
    paused = next(t for k, _, t in sink.events if k is EventType.PAUSED)
    resumed = next(t for k, _, t in sink.events if k is EventType.RESUMED)
    assert 0.6 <= resumed - paused <= 1.5


def test_a_probe_kind_the_engine_cannot_run_is_an_error_not_a_silent_gap(
    service: Service,
) -> None:
    # A DSN libpq cannot parse: the canary cannot be built, so the run must not start.
    text = PAUSE.format(port=service.port).replace(
        f'    http: {{url: "http://127.0.0.1:{service.port}/", timeout: 1s}}',
        '    canary: {postgres: {dsn: "host"}}',
    )
    playbook = parse_playbook(text)
    runner = DrillRunner(
        "10", playbook, resolve_plan(playbook, INVENTORY), FakeDriver(service), MemorySink()
    )
    outcome = runner.run()
    assert outcome.state is RunState.ERROR
    assert "probe shop" in outcome.reason


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
  - name: alive
    command: {{argv: ["true"], timeout: 1s}}
    every: 100ms
steps:
  - wait: 700ms
"""


def samples_of(sink: MemorySink) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for kind, data, _ in sink.events:
        if kind is EventType.SAMPLE:
            found.setdefault(data["probe"], []).append(data)
    return found


def test_every_probe_kind_samples_during_a_run(service: Service) -> None:
    prom = PrometheusStub()
    prom.document = {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "7"]}]},
    }
    try:
        with redis_server() as redis_port:
            text = EVERY_KIND.format(
                http_port=service.port, redis_port=redis_port, prom_url=prom.url
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
    assert set(samples) == {"port", "orders", "depth", "alive"}
    for name, got in samples.items():
        assert 4 <= len(got) <= 12, (name, len(got))  # 700 ms at 100 ms
        assert all(s["ok"] for s in got), (name, got)
    assert [s["status"] for s in samples["alive"]] == [0] * len(samples["alive"])
    # Samples taken after the last tick are not emitted; the canary still remembers them.
    assert len(samples["orders"]) <= len(acked) <= len(samples["orders"]) + 2


NAMESPACED = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {{name: from-a-host}}
targets:
  app: {{host: h1}}
probes:
  - name: inside
    tcp: {{host: 127.0.0.1, port: {port}, timeout: 500ms}}
    every: 100ms
    from: app
  - name: outside
    tcp: {{host: 127.0.0.1, port: {port}, timeout: 500ms}}
    every: 100ms
steps:
  - wait: 500ms
"""


def test_a_probe_from_a_host_samples_inside_that_hosts_namespace(service: Service) -> None:
    require(have_root(), "needs root (network namespaces)")
    with scratch_namespace() as namespace:
        port = free_port()
        listener = listen_in(namespace, "127.0.0.1", port)  # only the namespace listens
        try:
            inventory = {**INVENTORY, "h1": HostInfo("h1", "10.0.0.1", "agent.h1", namespace)}
            playbook = parse_playbook(NAMESPACED.format(port=port))
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


def test_a_probe_whose_host_namespace_is_missing_is_refused_before_any_fault(
    service: Service,
) -> None:
    inventory = {**INVENTORY, "h1": HostInfo("h1", "10.0.0.1", "agent.h1", "dhprobe-gone")}
    playbook = parse_playbook(NAMESPACED.format(port=free_port()))
    driver = FakeDriver(service)
    sink = MemorySink()
    runner = DrillRunner("13", playbook, resolve_plan(playbook, inventory), driver, sink)
    outcome = runner.run()
    assert outcome.state is RunState.ERROR
    assert "probe inside runs from host h1" in outcome.reason
    assert "dhprobe-gone" in outcome.reason
    assert driver.calls == []
    assert not samples_of(sink)


def redis_canary(port: int) -> str:
    return f'{{redis: {{address: "127.0.0.1:{port}", key_prefix: "orders:"}}}}'


def delete_oldest_orders(port: int) -> list[str]:
    """Deletes the three oldest canary keys straight from Redis; returns their names."""
    import redis

    client = redis.Redis(port=port)
    keys = sorted(client.keys("orders:*"))[:3]
    if keys:
        client.delete(*keys)
    return [k.decode() for k in keys]


def test_rpo_counts_acknowledged_writes_that_cannot_be_read_back(service: Service) -> None:
    with redis_server() as port:
        driver = LosingDriver(service, lambda: delete_oldest_orders(port))
        outcome, sink = run_canary_drill("11", redis_canary(port), driver)
    assert len(driver.deleted) == 3
    assert_failed_on_three_lost_writes(outcome, sink)


def test_rpo_is_zero_when_nothing_was_lost(service: Service) -> None:
    with redis_server() as port:
        outcome, _ = run_canary_drill("11", redis_canary(port), FakeDriver(service))
    assert outcome.rpo is not None and outcome.rpo["lost"] == 0
    assert outcome.state is RunState.PASSED, outcome.reason
