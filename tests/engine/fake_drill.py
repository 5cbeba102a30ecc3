"""A drill on the fake clock: a runner, its sink, a fake driver and the fake service it breaks.

Fake probes watch the service on the loop's tick, so a drill of minutes runs in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from drills.engine.clock import FakeClock
from drills.engine.events import MemorySink
from drills.engine.plan import resolve_plan
from drills.engine.runner import DrillRunner, RunOptions
from drills.engine.silences import Silencer
from drills.playbook.parser import parse_playbook
from tests.engine.fakes import INVENTORY, FakeDriver, FakeService, fake_probes


@dataclass
class Drill:
    runner: DrillRunner
    sink: MemorySink
    driver: FakeDriver
    service: FakeService
    clock: FakeClock


def drill(
    text: str,
    run: str = "7",
    abort=None,  # type: ignore[no-untyped-def]
    options: RunOptions | None = None,
    resume_count=None,  # type: ignore[no-untyped-def]
    driver: type[FakeDriver] = FakeDriver,
    silencer: Silencer | None = None,
) -> Drill:
    clock = FakeClock()
    service = FakeService(clock)
    fake = driver(service, clock=clock)
    playbook = parse_playbook(text)
    sink = MemorySink()
    runner = DrillRunner(
        run,
        playbook,
        resolve_plan(playbook, INVENTORY),
        fake,
        sink,
        should_abort=abort or (lambda: None),
        resume_count=resume_count or (lambda: 0),
        options=options or RunOptions(lease_seconds=0.6, settle_seconds=1.0, tick_seconds=0.05),
        clock=clock,
        build_probe=fake_probes(service),
        silencer=silencer,
    )
    return Drill(runner, sink, fake, service, clock)
