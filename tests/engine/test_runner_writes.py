"""How the runner's events reach the sink: each write waits its turn at the database, so what
comes together on the way to the first fault is written together, in order, and nothing is
held back while the run waits."""

from __future__ import annotations

from typing import Any

from drills.engine.clock import FakeClock
from drills.engine.events import EventType, MemorySink
from drills.engine.plan import resolve_plan
from drills.engine.runner import DrillRunner, RunOptions
from drills.playbook.parser import parse_playbook
from tests.engine.fakes import INVENTORY, FakeDriver, FakeFeed, FakeService, fake_probes
from tests.engine.reading import shop_drill


class WritesSink(MemorySink):
    """A MemorySink that also keeps what each write held: event types, and states by name."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[list[str]] = []

    def emit(self, type: EventType, data: dict[str, Any], t: float) -> None:
        self.emit_many([(type, data)], t)

    def emit_many(self, events: list[tuple[EventType, dict[str, Any]]], t: float) -> None:
        self.writes.append([d["state"] if k is EventType.STATE else str(k) for k, d in events])
        self.events.extend((k, d, t) for k, d in events)


def run(rest: str) -> WritesSink:
    clock = FakeClock()
    service = FakeService(clock)
    playbook = parse_playbook(shop_drill("writes", rest))
    sink = WritesSink()
    feed = FakeFeed(["h1", "h2"], lambda host, t: {"tcp_retransmits": 1.0}, clock)
    DrillRunner(
        "41", playbook, resolve_plan(playbook, INVENTORY), FakeDriver(service, clock=clock), sink,
        options=RunOptions(settle_seconds=0.2, tick_seconds=0.05, min_recovery_seconds=0.3,
                           evidence_interval=0.2, drain_seconds=0.1),
        clock=clock, evidence=feed, build_probe=fake_probes(service),
    ).run()  # fmt: skip
    return sink


def test_the_way_to_the_first_fault_is_four_writes_in_order() -> None:
    sink = run("steps:\n  - {fault: network.partition, target: db, from: [app], duration: 1s}\n")
    first_four = sink.writes[:4]
    assert first_four == [
        ["preflight"],
        ["collectors", "collectors"],  # every host's in one write
        ["baseline", "step_started", "injecting"],  # nothing waited for in between
        ["fault_applied"],
    ]


def test_a_wait_steps_start_is_written_before_the_wait_not_after() -> None:
    sink = run("steps:\n  - wait: 2s\n")
    [(index, write)] = [(i, w) for i, w in enumerate(sink.writes) if "step_started" in w]
    assert write[:2] == ["baseline", "step_started"]
    started_at = next(t for k, _, t in sink.events if k is EventType.STEP_STARTED)
    finished_at = next(t for k, _, t in sink.events if k is EventType.STEP_FINISHED)
    assert finished_at - started_at >= 2.0  # written when the wait began
