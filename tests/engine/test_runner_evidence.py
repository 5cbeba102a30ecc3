"""The run loop with kernel evidence: collectors started at preflight, samples in the stream
and the store, the lease closed at the end, and faults the kernel never saw failing the run.

A fake driver and feed stand in for agents (pure logic of the loop), and a fake probe watches
the service the fake fault breaks, all on a fake clock: each drill takes milliseconds.
"""

from __future__ import annotations

from typing import Any

from drills.engine.clock import FAKE_EPOCH, FakeClock
from drills.engine.driver import AgentRefused
from drills.engine.events import EventType, MemorySink
from drills.engine.plan import resolve_plan
from drills.engine.runner import DrillRunner, RunOptions
from drills.engine.states import RunState
from drills.playbook.parser import parse_playbook
from tests.engine.fakes import INVENTORY, FakeDriver, FakeFeed, FakeService, fake_probes
from tests.engine.reading import shop_drill

PLAYBOOK = shop_drill(
    "evidence-drill",
    """\
kernel:
  - tcp_retransmits: {on: app}
steps:
  - wait: 600ms
  - {fault: network.partition, target: db, from: [app], duration: 1s}
slas:
  - name: retransmits stay low
    assert: count(kernel.tcp_retransmits, 1s) < 100
    during: always
""",
)


def run(service: FakeService, feed: FakeFeed) -> tuple[DrillRunner, MemorySink]:
    playbook = parse_playbook(PLAYBOOK)
    sink = MemorySink()
    clock = service.clock
    runner = DrillRunner(
        "31", playbook, resolve_plan(playbook, INVENTORY), FakeDriver(service, clock=clock), sink,
        options=RunOptions(settle_seconds=0.2, tick_seconds=0.05, min_recovery_seconds=0.3,
                           evidence_interval=0.2, drain_seconds=0.1),
        clock=clock, evidence=feed, build_probe=fake_probes(service),
    )  # fmt: skip
    runner.run()
    return runner, sink


def retransmits_while_broken(service: FakeService):  # type: ignore[no-untyped-def]
    return lambda host, t: {"tcp_retransmits": 3.0 if service.broken and host == "h1" else 0.0}


def nothing_seen(host: str, t: float) -> dict[str, float]:
    return {"tcp_retransmits": 0.0, "tcp_connect_failures": 0.0}


def test_collectors_start_at_preflight_on_the_fault_host_and_its_peer() -> None:
    service = FakeService(FakeClock())
    feed = FakeFeed(["h1", "h2"], retransmits_while_broken(service), service.clock)
    runner, sink = run(service, feed)
    started = {d["host"]: [c["name"] for c in d["collectors"]]
               for k, d, _ in sink.events if k is EventType.COLLECTORS}  # fmt: skip
    # The playbook's collector on app (h1), and proof-of-effect ones on both ends.
    assert started == {
        "h1": ["tcp_connect", "tcp_resets", "tcp_retransmits"],
        "h2": ["tcp_connect", "tcp_resets", "tcp_retransmits"],
    }
    first_collectors = next(
        i for i, (k, _, _) in enumerate(sink.events) if k is EventType.COLLECTORS
    )
    first_fault = next(i for i, (k, _, _) in enumerate(sink.events) if k is EventType.FAULT_APPLIED)
    assert first_collectors < first_fault
    assert feed.opened and feed.closed


def test_kernel_samples_reach_the_stream_and_the_assertions() -> None:
    service = FakeService(FakeClock())
    feed = FakeFeed(["h1", "h2"], retransmits_while_broken(service), service.clock)
    runner, sink = run(service, feed)
    kernel = [
        d for k, d, _ in sink.events if k is EventType.SAMPLE and d["probe"].startswith("kernel.")
    ]
    assert kernel and {d["host"] for d in kernel} == {"h1", "h2"}
    assert sum(d["value"] for d in kernel) > 0
    assert runner.state is RunState.PASSED
    assert not [d for k, d, _ in sink.events if k is EventType.NO_EFFECT]


def test_a_fault_the_kernel_never_saw_fails_the_run() -> None:
    service = FakeService(FakeClock())
    feed = FakeFeed(["h1", "h2"], nothing_seen, service.clock)
    runner, sink = run(service, feed)
    [note] = [d for k, d, _ in sink.events if k is EventType.NO_EFFECT]
    assert note["judged"] is True and note["hosts"] == ["h2", "h1"]
    assert runner.state is RunState.FAILED
    result = next(d for k, d, _ in sink.events if k is EventType.RESULT)
    assert "fault applied, no effect seen" in result["reason"]


def test_a_peer_without_evidence_is_cannot_tell_not_a_failure() -> None:
    service = FakeService(FakeClock())
    feed = FakeFeed(["h2"], lambda host, t: {"tcp_retransmits": 0.0}, service.clock)
    runner, sink = run(service, feed)
    [note] = [d for k, d, _ in sink.events if k is EventType.NO_EFFECT]
    assert note["judged"] is False and "no kernel evidence from h1" in note["message"]
    assert runner.state is RunState.PASSED


LONG = shop_drill(
    "lost-evidence",
    """\
steps:
  - wait: 2s
  - {fault: network.partition, target: db, from: [app], duration: 20s}
""",
)
T0 = FAKE_EPOCH  # the run starts, and the collectors with it, at 22:13:20 UTC


def run_long(feed_kw: dict[str, Any]) -> tuple[DrillRunner, MemorySink]:
    """A 20 s partition from 22:13:22 to 22:13:42 whose collectors see nothing at all."""
    clock = FakeClock()
    service = FakeService(clock)
    feed = FakeFeed(["h1", "h2"], nothing_seen, clock, interval=1.0, **feed_kw)
    playbook = parse_playbook(LONG)
    sink = MemorySink()
    runner = DrillRunner(
        "32", playbook, resolve_plan(playbook, INVENTORY), FakeDriver(service, clock=clock), sink,
        options=RunOptions(settle_seconds=1, min_recovery_seconds=1, evidence_interval=1.0),
        clock=clock, evidence=feed, build_probe=fake_probes(service),
    )  # fmt: skip
    runner.run()
    return runner, sink


def test_complete_evidence_of_nothing_is_no_effect() -> None:
    runner, sink = run_long({})
    [note] = [d for k, d, _ in sink.events if k is EventType.NO_EFFECT]
    assert note["judged"] is True
    assert runner.state is RunState.FAILED


def test_evidence_lost_during_the_fault_is_cannot_tell_with_the_span() -> None:
    # The broker lost ten seconds of both hosts' samples and beats mid-fault.
    runner, sink = run_long({"lost": lambda t: T0 + 5 <= t < T0 + 15})
    [note] = [d for k, d, _ in sink.events if k is EventType.NO_EFFECT]
    assert note["judged"] is False
    assert note["message"] == (
        "cannot tell whether the fault took effect: "
        "kernel evidence from h1 is missing from 22:13:24 to 22:13:34 UTC (the samples were "
        "lost, e.g. a broker restart); "
        "kernel evidence from h2 is missing from 22:13:24 to 22:13:34 UTC (the samples were "
        "lost, e.g. a broker restart)"
    )
    assert runner.state is RunState.PASSED  # "cannot tell" is said, not a failure


def test_evidence_the_run_could_not_fetch_is_cannot_tell_and_says_why() -> None:
    # Redis goes away for good 16 s in: agents cannot push, the run cannot drain.
    gone = T0 + 16
    runner, sink = run_long({"lost": lambda t: t > gone, "failing": lambda now: now > gone})
    [note] = [d for k, d, _ in sink.events if k is EventType.NO_EFFECT]
    assert note["judged"] is False
    expected = (
        "kernel evidence from h1 is missing from 22:13:36 to 22:13:42 UTC (the run could not "
        "fetch them: Connection refused)"
    )
    assert expected in note["message"]


class ExpiringFeed(FakeFeed):
    """A feed whose lease runs out as the Redis key does: ``alive`` is false past it."""

    expires_at = 0.0

    def open(self, run: str, lease_seconds: float, hosts: Any) -> None:
        super().open(run, lease_seconds, hosts)
        self.expires_at = self.clock.now() + lease_seconds

    def keep_alive(self, run: str, lease_seconds: float) -> None:
        super().keep_alive(run, lease_seconds)
        self.expires_at = self.clock.now() + lease_seconds

    def alive(self) -> bool:
        return self.clock.now() < self.expires_at


class SlowToCollect(FakeDriver):
    """The first host answers at once and its collectors check the lease from then on; the
    last takes nearly the whole agent timeout (an agent compiling its programs)."""

    def __init__(self, service: FakeService, feed: ExpiringFeed, clock: FakeClock) -> None:
        super().__init__(service, clock=clock)
        self.feed, self.clock = feed, clock
        self.lease_seen: list[bool] = []

    def collect_all(self, requests: Any, timeout: float) -> list[Any]:
        replies = super().collect_all(requests, timeout)
        for _ in range(int(timeout) - 1):  # the first host's session checks every second
            self.clock.sleep(1.0)
            self.lease_seen.append(self.feed.alive())
        return replies


def test_the_collectors_lease_outlives_a_slow_agents_start() -> None:
    """A lease shorter than the wait for the slowest agent expired under the collectors of
    the hosts that answered first: their sessions closed, and their samples stopped before
    the fault (seen in the e2e kernel-evidence test, with a 4 s lease)."""
    clock = FakeClock()
    service = FakeService(clock)
    feed = ExpiringFeed(["h1", "h2"], retransmits_while_broken(service), clock)
    driver = SlowToCollect(service, feed, clock)
    playbook = parse_playbook(PLAYBOOK)
    runner = DrillRunner(
        "32", playbook, resolve_plan(playbook, INVENTORY), driver, MemorySink(),
        options=RunOptions(settle_seconds=0.2, tick_seconds=0.05, min_recovery_seconds=0.3,
                           evidence_interval=0.2, drain_seconds=0.1, lease_seconds=4.0,
                           agent_timeout=15.0),
        clock=clock, evidence=feed, build_probe=fake_probes(service),
    )  # fmt: skip
    runner.run()
    assert len(driver.lease_seen) == 14
    assert all(driver.lease_seen), driver.lease_seen


def test_the_hosts_admit_the_run_while_they_start_its_collectors() -> None:
    """One round trip to the agents before the baseline, not two: the admission goes out,
    the collectors' start goes out behind it, and only then is the admission waited for."""
    service = FakeService(FakeClock())
    feed = FakeFeed(["h1", "h2"], retransmits_while_broken(service), service.clock)
    runner, _ = run(service, feed)
    assert runner.driver.preflight == ["asked ready", "collect", "collect", "ready"]  # type: ignore[attr-defined]


class RefusesAdmission(FakeDriver):
    def ask_ready(self, queues: Any, timeout: float) -> Any:
        asked = super().ask_ready(queues, timeout)

        def refused() -> None:
            asked()
            raise AgentRefused("the agent of h2 refuses this run: a halt is in force")

        return refused


def test_a_host_that_refuses_the_run_ends_it_before_any_fault_and_its_collectors_close() -> None:
    service = FakeService(FakeClock())
    feed = FakeFeed(["h1", "h2"], retransmits_while_broken(service), service.clock)
    playbook = parse_playbook(PLAYBOOK)
    sink = MemorySink()
    driver = RefusesAdmission(service, clock=service.clock)
    runner = DrillRunner(
        "32", playbook, resolve_plan(playbook, INVENTORY), driver, sink,
        options=RunOptions(evidence_interval=0.2, drain_seconds=0.1), clock=service.clock,
        evidence=feed, build_probe=fake_probes(service),
    )  # fmt: skip
    outcome = runner.run()
    assert outcome.state is RunState.ERROR
    assert "a halt is in force" in outcome.reason
    assert not [c for c in driver.calls if c[0] == "apply"]
    assert feed.opened and feed.closed


def run_to_the_end(
    hosts: list[str], beating: list[str], read_now: bool = False
) -> tuple[float, list[Any]]:
    """The 20 s partition, samples read every second but fetched only every 3 s: how long
    the run went on after its last revert, and its no-effect notes. Hosts not ``beating``
    send their samples without a beat; with ``read_now`` the agents read when asked."""
    clock = FakeClock()
    service = FakeService(clock)
    feed = FakeFeed(hosts, nothing_seen, clock, interval=1.0)
    driver = FakeDriver(service, clock=clock)
    if read_now:
        driver.on_read_now = feed.read_now
    real_drain = feed.drain

    def drain(run: str) -> list[Any]:
        return [m for m in real_drain(run) if m.host in beating or hasattr(m, "metric")]

    feed.drain = drain  # type: ignore[method-assign]
    playbook = parse_playbook(LONG)
    sink = MemorySink()
    DrillRunner(
        "33", playbook, resolve_plan(playbook, INVENTORY), driver, sink,
        options=RunOptions(settle_seconds=1, min_recovery_seconds=1, evidence_interval=1.0,
                           drain_seconds=3.0),
        clock=clock, evidence=feed, build_probe=fake_probes(service),
    ).run()  # fmt: skip
    reverted = max(t for k, _, t in sink.events if k is EventType.FAULT_REVERTED)
    judged = next(t for k, d, t in sink.events if k is EventType.STATE and d["state"] == "failed")
    notes = [d for k, d, _ in sink.events if k is EventType.NO_EFFECT]
    return judged - reverted, notes


def test_the_run_ends_once_every_host_has_sent_the_interval_past_its_last_revert() -> None:
    # Waiting out a whole read interval and fetch period (4 s here) is only needed while a
    # host's samples of the revert's interval are still to come.
    after, notes = run_to_the_end(["h1", "h2"], beating=["h1", "h2"])
    assert after <= 1.1
    [note] = notes
    assert note["judged"] is True  # complete evidence of nothing: still judged


def test_agents_asked_to_read_at_once_end_the_run_right_after_its_last_revert() -> None:
    # Not up to a read interval later: each host reads when the run's end asks it to.
    after, notes = run_to_the_end(["h1", "h2"], beating=["h1", "h2"], read_now=True)
    assert after <= 0.1
    [note] = notes
    assert note["judged"] is True


def test_a_host_that_sends_no_beat_is_waited_for_as_long_as_before() -> None:
    after, _ = run_to_the_end(["h1", "h2"], beating=["h1"])
    assert after >= 4.0
