"""The run loop's logic on a fake clock: states, verdicts, RTO, aborts, pauses, leases, RPO.

A fake driver stands in for agents and breaks a ``FakeService`` while its fault is applied;
fake probes read that service on the loop's tick. Time is a ``FakeClock``, so these drills
(up to a minute long) take milliseconds and always see the same samples. That real threads
and real probes work is proven in test_runner_realtime.py.
"""

from __future__ import annotations

import sys
import time

import pytest

from drills.engine.clock import FakeClock
from drills.engine.events import EventType, MemorySink
from drills.engine.plan import HostInfo, resolve_plan
from drills.engine.runner import DrillRunner, RunOptions
from drills.engine.states import RunState
from drills.playbook.parser import parse_playbook
from tests.engine.canary_drill import assert_failed_on_three_lost_writes, run_canary_drill
from tests.engine.fake_drill import Drill, drill
from tests.engine.fakes import (
    INVENTORY,
    FakeDriver,
    FakeService,
    HarmlessDriver,
    LosingDriver,
)
from tests.engine.reading import first, namespaced_playbook, samples_of, shop_drill, states
from tests.verifier.probes.servers import free_port, redis_server

PLAYBOOK = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {{name: fake-drill}}
targets:
  app: {{host: h1}}
  db: {{host: h2}}
probes:
  - name: shop
    http: {{url: "http://127.0.0.1:9/", timeout: 1s}}
    every: 100ms
steps:
  - wait: 1s
  - fault: network.partition
    target: db
    from: [app]
    duration: {duration}
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
objectives: {{rto: {rto}}}
"""


def fault_drill(  # type: ignore[no-untyped-def]
    on_breach: str = "record", duration: str = "1500ms", rto: str = "10s", **kw
) -> Drill:
    return drill(PLAYBOOK.format(on_breach=on_breach, duration=duration, rto=rto), **kw)


def test_run_passes_when_the_fault_breaks_and_recovery_follows() -> None:
    d = fault_drill()
    outcome = d.runner.run()
    assert outcome.state is RunState.PASSED, outcome
    assert states(d.sink) == [
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
    # The fault lasts 1.5 s; the 1 s error-rate window is under 10% soon after the revert.
    assert outcome.rto is not None and 1.5 <= outcome.rto <= 2.6
    assert ("renew", "r7-s2-a1") in d.driver.calls  # leases renewed during the 1.5 s step
    assert d.driver.active == set()


def test_leases_are_renewed_every_third_of_a_lease() -> None:
    d = fault_drill(duration="60s", rto="90s", options=RunOptions(lease_seconds=9))
    d.runner.run()
    renewals = [c for c in d.driver.calls if c == ("renew", "r7-s2-a1")]
    assert 19 <= len(renewals) <= 21  # 60 s at one renewal per 3 s


def test_a_fault_shorter_than_a_third_of_its_lease_is_never_renewed() -> None:
    # The apply gave it a whole lease: a renewal then would only cost its agent a request.
    # The first renewal is due 3 s after the apply, not 3 s after the run's last look at its
    # leases (during the 1 s wait before it), which fell inside this 2.9 s fault.
    d = fault_drill(duration="2900ms", options=RunOptions(lease_seconds=9))
    assert d.runner.run().state is RunState.PASSED
    assert ("revert", "r7-s2-a1") in d.driver.calls
    assert ("renew", "r7-s2-a1") not in d.driver.calls


def test_a_60_second_drill_runs_in_well_under_a_second_on_the_fake_clock() -> None:
    d = fault_drill(duration="60s", rto="90s", options=RunOptions(settle_seconds=5))
    started = time.monotonic()
    outcome = d.runner.run()
    wall = time.monotonic() - started
    assert outcome.state is RunState.PASSED, outcome
    applied = first(d.sink, EventType.FAULT_APPLIED)[1]
    reverted = first(d.sink, EventType.FAULT_REVERTED)[1]
    assert reverted - applied == 60.0  # virtual seconds, exactly the step's duration
    assert d.clock.elapsed >= 66  # 1 s baseline, the 60 s fault, a 5 s settle: all of it ran
    assert len(samples_of(d.sink)["shop"]) >= 660  # one per 100 ms of those 66 s, all judged
    assert wall < 1.0, f"a 60 s drill took {wall:.2f} s of real time"


def test_sla_breach_with_abort_reverts_and_ends_aborted() -> None:
    # "broken during" expects errors; a fault that breaks nothing breaches it.
    d = fault_drill(on_breach="abort", driver=HarmlessDriver)
    driver = d.driver
    outcome = d.runner.run()
    assert outcome.state is RunState.ABORTED
    assert "broken during" in outcome.reason
    assert states(d.sink)[-2:] == ["reverting", "aborted"]
    assert ("revert", "r7-s2-a1") in driver.calls
    types = [t for t, _, _ in d.sink.events]
    assert types.index(EventType.ABORT) < types.index(EventType.FAULT_REVERTED)


def test_user_abort_mid_fault_reverts_within_an_abort_poll() -> None:
    calls: list[tuple[str, str]] = []

    def requested() -> str | None:
        return "operator pressed Abort" if ("apply", "r7-s2-a1") in calls else None

    d = fault_drill(abort=requested)
    calls = d.driver.calls
    outcome = d.runner.run()
    assert outcome.state is RunState.ABORTED
    assert outcome.reason == "operator pressed Abort"
    applied_t = first(d.sink, EventType.FAULT_APPLIED)[1]
    reverted_t = first(d.sink, EventType.FAULT_REVERTED)[1]
    assert reverted_t - applied_t <= 0.25 + 0.05  # one abort poll (and a tick); the step is 1.5 s
    assert d.driver.active == set()


def test_missing_agent_is_an_error_before_any_fault() -> None:
    d = fault_drill()
    d.driver.dead = True
    outcome = d.runner.run()
    assert outcome.state is RunState.ERROR
    assert "agent.h2" in outcome.reason
    assert not any(kind == "apply" for kind, _ in d.driver.calls)
    assert states(d.sink) == ["preflight", "reverting", "error"]


PARALLEL = shop_drill(
    "parallel-drill",
    """\
steps:
  - parallel:
      - {fault: network.partition, target: db, from: [app], duration: 600ms}
      - {fault: network.partition, target: app, from: [db], duration: 1200ms}
  - wait: 200ms
""",
)


def test_parallel_faults_apply_together_and_revert_each_at_its_own_end() -> None:
    d = drill(
        PARALLEL, "8", options=RunOptions(lease_seconds=5, settle_seconds=0.5, tick_seconds=0.05)
    )
    outcome = d.runner.run()
    assert outcome.state is RunState.PASSED, outcome
    kinds = [k for k, _ in d.driver.calls if k != "renew"]
    assert kinds == ["apply", "apply", "revert", "revert"]
    times = {
        (t.value, data["host"]): when
        for t, data, when in d.sink.events
        if t in (EventType.FAULT_APPLIED, EventType.FAULT_REVERTED)
    }
    first_span = times[("fault_reverted", "h2")] - times[("fault_applied", "h2")]
    second_span = times[("fault_reverted", "h1")] - times[("fault_applied", "h1")]
    assert abs(first_span - 0.6) < 1e-6 and abs(second_span - 1.2) < 1e-6
    assert states(d.sink) == [
        "preflight", "baseline", "injecting", "observing", "reverting", "observing",
        "recovering", "passed",
    ]  # fmt: skip


PAUSE = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {name: paused-drill}
targets:
  app: {host: h1}
probes:
  - name: shop
    http: {url: "http://127.0.0.1:9/", timeout: 1s}
    every: 100ms
steps:
  - pause: {message: "check the dashboards, then resume"}
  - wait: 100ms
"""


def test_pause_holds_the_run_until_an_operator_resumes() -> None:
    clock: list[FakeClock] = []

    def resumes() -> int:  # an operator presses Resume 0.8 s into the run
        return 1 if clock and clock[0].elapsed >= 0.8 else 0

    options = RunOptions(settle_seconds=0.2, tick_seconds=0.05, abort_poll_seconds=0.05)
    d = drill(PAUSE, "9", options=options, resume_count=resumes)
    clock.append(d.clock)
    outcome = d.runner.run()
    assert outcome.state is RunState.PASSED
    paused = first(d.sink, EventType.PAUSED)[1]
    resumed = first(d.sink, EventType.RESUMED)[1]
    assert 0.75 <= resumed - paused <= 0.9


def test_a_probe_kind_the_engine_cannot_run_is_an_error_not_a_silent_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No PostgreSQL driver on this engine: the canary cannot be built, so the run must not start.
    monkeypatch.delitem(sys.modules, "verifier.probes.pgcanary", raising=False)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what a missing package looks like
    text = PAUSE.replace(
        '    http: {url: "http://127.0.0.1:9/", timeout: 1s}',
        '    canary: {postgres: {dsn: "host=127.0.0.1 dbname=shop"}}',
    )
    playbook = parse_playbook(text)
    runner = DrillRunner(
        "10", playbook, resolve_plan(playbook, INVENTORY), FakeDriver(FakeService(FakeClock())),
        MemorySink(), clock=FakeClock(),
    )  # fmt: skip
    outcome = runner.run()
    assert outcome.state is RunState.ERROR
    assert "probe shop" in outcome.reason and "psycopg" in outcome.reason


def test_a_probe_whose_host_namespace_is_missing_is_refused_before_any_fault() -> None:
    inventory = {**INVENTORY, "h1": HostInfo("h1", "10.0.0.1", "agent.h1", "dhprobe-gone")}
    playbook = parse_playbook(namespaced_playbook(free_port()))
    clock = FakeClock()
    driver = FakeDriver(FakeService(clock), clock=clock)
    sink = MemorySink()
    runner = DrillRunner(
        "13", playbook, resolve_plan(playbook, inventory), driver, sink, clock=clock
    )
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
    return [k.decode() if isinstance(k, bytes) else k for k in keys]


# RPO on the fake clock: the canary is a real Redis store, written on the loop's ticks.


def test_rpo_counts_acknowledged_writes_that_cannot_be_read_back() -> None:
    clock = FakeClock()
    with redis_server() as port:
        driver = LosingDriver(FakeService(clock), lambda: delete_oldest_orders(port))
        outcome, sink = run_canary_drill("11", redis_canary(port), driver, clock)
    assert len(driver.deleted) == 3
    assert_failed_on_three_lost_writes(outcome, sink)


def test_rpo_is_zero_when_nothing_was_lost() -> None:
    clock = FakeClock()
    with redis_server() as port:
        driver = FakeDriver(FakeService(clock), clock=clock)
        outcome, _ = run_canary_drill("11", redis_canary(port), driver, clock)
    assert outcome.rpo is not None and outcome.rpo["lost"] == 0
    assert outcome.state is RunState.PASSED, outcome.reason


def test_an_unexpected_error_is_explained_in_a_sentence_not_shown_as_a_repr() -> None:
    class BrokerGone(Exception):
        pass

    d = fault_drill()
    d.driver.apply = lambda *a: (_ for _ in ()).throw(BrokerGone("Error 111 connecting"))  # type: ignore[method-assign]
    outcome = d.runner.run()
    assert outcome.state is RunState.ERROR
    assert outcome.reason.startswith("the run stopped on an unexpected error (BrokerGone: ")
    assert "faults were reverted" in outcome.reason
