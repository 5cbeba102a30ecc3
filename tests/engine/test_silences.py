"""Silences for fault windows, on the fake clock: one per faulted host, made before the fault
lands, ended right after its revert or with the run, and never in the drill's way.

The silencer here is a fake that records calls with the clock's time (pure bookkeeping);
tests/engine/test_alertmanager_api.py runs the real Alertmanager.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drills.engine.clock import FAKE_EPOCH, Clock
from drills.engine.events import EventType
from drills.engine.runner import RunOptions
from drills.engine.silences import SilenceError, silence_margin
from drills.engine.states import RunState
from injector.protocol import ApplyReply, FaultSpec
from tests.engine.fake_drill import Drill, drill
from tests.engine.fakes import FakeDriver
from tests.engine.reading import of_type, shop_drill

ONE_FAULT = shop_drill(
    "one-fault",
    """\
steps:
  - wait: 2s
  - {name: cut db off, fault: network.partition, target: db, from: [app], duration: 30s}
  - wait: 3s
""",
)

TWO_HOSTS = shop_drill(
    "two-hosts",
    """\
steps:
  - wait: 1s
  - parallel:
      - {fault: network.partition, target: db, from: [app], duration: 10s}
      - {fault: network.loss, target: app, to: [db], loss: 50%, duration: 20s}
  - {fault: network.partition, target: db, from: [app], duration: 5s}
""",
)

OPTIONS = RunOptions(lease_seconds=6, agent_timeout=4, settle_seconds=1, tick_seconds=0.1)
MARGIN = silence_margin(agent_timeout=4, lease_seconds=6)  # 10 s


@dataclass
class FakeSilencer:
    """Hands out ids s1, s2, ...; records (what, argument, clock time). ``refuse`` / ``unreachable``
    make creates fail as Alertmanager refusing or not answering; ``expire_fails`` expiries."""

    clock: Clock | None = None
    refuse: bool = False
    unreachable: bool = False
    expire_fails: bool = False
    calls: list[tuple[str, object, float]] = field(default_factory=list)
    live: dict[str, tuple[str, float, float, str]] = field(default_factory=dict)

    def now(self) -> float:
        assert self.clock is not None
        return self.clock.now()

    def describe(self, host: str) -> str:
        return f"instance is {host} or {host}:<port>"

    def create(self, host: str, starts_at: float, ends_at: float, comment: str) -> str:
        self.calls.append(("create", host, self.now()))
        if self.unreachable:
            raise SilenceError("Alertmanager at http://am:9093 did not answer within 1 s", True)
        if self.refuse:
            raise SilenceError("Alertmanager at http://am:9093 refused: HTTP 400", False)
        silence_id = f"s{sum(1 for c in self.calls if c[0] == 'create')}"
        self.live[silence_id] = (host, starts_at, ends_at, comment)
        return silence_id

    def expire(self, silence_id: str) -> None:
        self.calls.append(("expire", silence_id, self.now()))
        if self.expire_fails:
            raise SilenceError("Alertmanager at http://am:9093 refused: HTTP 500", False)
        del self.live[silence_id]


def silenced(text: str, silencer: FakeSilencer, **kw) -> Drill:  # type: ignore[no-untyped-def]
    d = drill(text, options=OPTIONS, silencer=silencer, **kw)
    silencer.clock = d.clock
    return d


def timeline(d: Drill) -> list[str]:
    """Fault, silence and result events in order, as short words."""
    out = []
    for kind, data, _ in d.sink.events:
        if kind is EventType.SILENCE:
            out.append(f"silence {data['state']} {data['host']}")
        elif kind in (EventType.FAULT_APPLIED, EventType.FAULT_REVERTED):
            out.append(f"{kind.value} {data['host']}")
        elif kind in (EventType.ABORT, EventType.RESULT, EventType.ERROR):
            out.append(kind.value)
    return out


def test_a_fault_window_is_silenced_before_the_fault_lands_and_expired_right_after_revert() -> None:
    silencer = FakeSilencer()
    d = silenced(ONE_FAULT, silencer)
    outcome = d.runner.run()

    assert outcome.state is RunState.PASSED, outcome.reason
    assert timeline(d) == [
        "silence created h2", "fault_applied h2", "fault_reverted h2", "silence expired h2",
        "result",
    ]  # fmt: skip
    applied = FAKE_EPOCH + 2.0
    assert silencer.calls == [("create", "h2", applied), ("expire", "s1", applied + 30.0)]
    assert silencer.live == {}

    created, expired = of_type(d.sink, EventType.SILENCE)
    assert created == {
        "step": 2,
        "host": "h2",
        "silence_id": "s1",
        "state": "created",
        "ends_at": applied + 30.0 + MARGIN,
        "matches": "instance is h2 or h2:<port>",
        "message": "alerts whose instance is h2 or h2:<port> are silenced until 22:14:02 UTC at "
        "the latest (silence s1)",
    }
    assert expired == {
        "step": 2,
        "host": "h2",
        "silence_id": "s1",
        "state": "expired",
        "ends_at": applied + 30.0,
        "message": "the silence of alerts about h2 is expired (silence s1)",
    }


def test_the_silence_s_comment_names_the_drill_the_run_and_the_fault() -> None:
    silencer = FakeSilencer()
    d = silenced(ONE_FAULT, silencer)
    comments = []
    real_create = silencer.create

    def create(host: str, starts_at: float, ends_at: float, comment: str) -> str:
        comments.append(comment)
        return real_create(host, starts_at, ends_at, comment)

    silencer.create = create  # type: ignore[method-assign]
    d.runner.run()
    assert comments == [
        "Drillhall drill one-fault, run 7: network.partition on h2 (fault r7-s2-a1, step 2); "
        "expired when the fault is reverted"
    ]


def test_each_host_of_a_parallel_group_gets_its_own_silence_ended_at_its_own_revert() -> None:
    silencer = FakeSilencer()
    d = silenced(TWO_HOSTS, silencer)
    d.runner.run()

    start = FAKE_EPOCH + 1.0
    assert silencer.calls == [
        ("create", "h2", start),
        ("create", "h1", start),
        ("expire", "s1", start + 10.0),  # the partition ends first
        ("expire", "s2", start + 20.0),
        ("create", "h2", start + 20.0),  # the next step's window: a silence of its own
        ("expire", "s3", start + 25.0),
    ]
    created = [e for e in of_type(d.sink, EventType.SILENCE) if e["state"] == "created"]
    assert [e["ends_at"] for e in created] == [
        start + 10.0 + MARGIN, start + 20.0 + MARGIN, start + 25.0 + MARGIN,
    ]  # fmt: skip


def test_an_abort_during_the_window_ends_the_silence_with_the_revert() -> None:
    silencer = FakeSilencer()
    aborted_at = FAKE_EPOCH + 12.0
    d = silenced(ONE_FAULT, silencer)
    d.runner.should_abort = lambda: "stop" if d.clock.now() >= aborted_at else None
    outcome = d.runner.run()

    assert outcome.state is RunState.ABORTED
    assert timeline(d) == [
        "silence created h2", "fault_applied h2", "abort", "fault_reverted h2",
        "silence expired h2", "result",
    ]  # fmt: skip
    assert silencer.live == {}
    assert silencer.calls[-1][2] < aborted_at + 0.5


class RefusingDriver(FakeDriver):
    def apply(self, queue: str, spec: FaultSpec, timeout: float) -> ApplyReply:
        from drills.engine.driver import AgentRefused

        raise AgentRefused("the agent on h2 refuses: no such interface")


def test_a_fault_that_could_not_be_applied_does_not_leave_its_silence_behind() -> None:
    silencer = FakeSilencer()
    d = silenced(ONE_FAULT, silencer, driver=RefusingDriver)
    outcome = d.runner.run()

    assert outcome.state is RunState.ERROR
    assert [e["state"] for e in of_type(d.sink, EventType.SILENCE)] == ["created", "expired"]
    assert silencer.live == {}


def test_an_unreachable_silencer_is_said_once_per_window_and_asked_only_once_per_run() -> None:
    silencer = FakeSilencer(unreachable=True)
    d = silenced(TWO_HOSTS, silencer)
    outcome = d.runner.run()

    assert outcome.state is RunState.PASSED, outcome.reason  # the drill goes on
    assert [c[0] for c in silencer.calls] == ["create"]  # one timeout per run, not per window
    failed = of_type(d.sink, EventType.SILENCE)
    assert [(e["host"], e["state"]) for e in failed] == [
        ("h2", "failed"), ("h1", "failed"), ("h2", "failed"),
    ]  # fmt: skip
    assert failed[0]["message"] == (
        "alerts about h2 are not silenced: Alertmanager at http://am:9093 did not answer within "
        "1 s; the drill goes on"
    )
    assert failed[1]["message"] == (
        "alerts about h1 are not silenced: not asked again after this run's first failure "
        "(Alertmanager at http://am:9093 did not answer within 1 s)"
    )
    assert "silence_id" not in failed[0]


def test_a_refusal_is_said_and_the_next_window_asks_again() -> None:
    silencer = FakeSilencer(refuse=True)
    d = silenced(TWO_HOSTS, silencer)
    outcome = d.runner.run()

    assert outcome.state is RunState.PASSED, outcome.reason
    assert [c[:2] for c in silencer.calls] == [("create", "h2"), ("create", "h1"), ("create", "h2")]
    assert {e["state"] for e in of_type(d.sink, EventType.SILENCE)} == {"failed"}


def test_a_silence_that_cannot_be_expired_says_when_it_ends_by_itself() -> None:
    silencer = FakeSilencer(expire_fails=True)
    d = silenced(ONE_FAULT, silencer)
    outcome = d.runner.run()

    assert outcome.state is RunState.PASSED, outcome.reason
    _, failed = of_type(d.sink, EventType.SILENCE)
    assert failed["state"] == "failed" and failed["silence_id"] == "s1"
    assert failed["message"] == (
        "the silence of alerts about h2 could not be expired: Alertmanager at http://am:9093 "
        "refused: HTTP 500; it ends by itself at 22:14:02 UTC"
    )
    assert [c[0] for c in silencer.calls] == ["create", "expire"]  # asked once, not again


def test_a_silencer_that_breaks_in_an_unexpected_way_does_not_end_the_drill() -> None:
    silencer = FakeSilencer()

    def broken(host: str, starts_at: float, ends_at: float, comment: str) -> str:
        raise KeyError("silenceID")

    silencer.create = broken  # type: ignore[method-assign]
    d = silenced(ONE_FAULT, silencer)
    outcome = d.runner.run()

    assert outcome.state is RunState.PASSED, outcome.reason
    (failed,) = of_type(d.sink, EventType.SILENCE)
    assert failed["state"] == "failed" and failed["message"].startswith("alerts about h2 are not")


def test_without_a_silencer_a_run_has_no_silence_events() -> None:
    d = drill(ONE_FAULT, options=OPTIONS)
    assert d.runner.run().state is RunState.PASSED
    assert of_type(d.sink, EventType.SILENCE) == []


def test_the_margin_covers_the_longest_apply_and_a_lease_a_dead_run_leaves_behind() -> None:
    assert silence_margin(agent_timeout=15.0, lease_seconds=10.0) == 25.0
