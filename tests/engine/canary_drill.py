"""One short drill around a write canary, for RPO tests of any canary kind.

Half a second of canary writes, a half-second fault on the fake driver, then recovery; the
objective is RPO 0, so any acknowledged write that cannot be read back fails the run.
On a ``FakeClock`` the canary (a real store) is written on the run loop's ticks.
"""

from __future__ import annotations

from drills.engine.clock import Clock
from drills.engine.events import EventType, MemorySink
from drills.engine.outcome import RunOutcome
from drills.engine.plan import resolve_plan
from drills.engine.runner import DrillRunner, RunOptions
from drills.engine.states import RunState
from drills.playbook.parser import parse_playbook
from tests.engine.fakes import INVENTORY, FakeDriver

PLAYBOOK = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {{name: canary-drill}}
targets:
  app: {{host: h1}}
  db: {{host: h2}}
probes:
  - name: orders
    canary: {canary}
    every: 100ms
steps:
  - wait: 500ms
  - {{fault: network.partition, target: db, from: [app], duration: 500ms}}
objectives: {{rpo: 0}}
"""


def run_canary_drill(
    run: str, canary: str, driver: FakeDriver, clock: Clock | None = None
) -> tuple[RunOutcome, MemorySink]:
    """Run the drill with `canary` (the probe's canary mapping, in flow YAML) as probe orders."""
    playbook = parse_playbook(PLAYBOOK.format(canary=canary))
    sink = MemorySink()
    runner = DrillRunner(
        run, playbook, resolve_plan(playbook, INVENTORY), driver, sink,
        options=RunOptions(settle_seconds=0.2, tick_seconds=0.05, min_recovery_seconds=0.5),
        clock=clock,
    )  # fmt: skip
    return runner.run(), sink


def assert_failed_on_three_lost_writes(outcome: RunOutcome, sink: MemorySink) -> None:
    """The drill failed its RPO 0 objective because 3 of at least 5 acknowledged writes went."""
    assert outcome.rpo is not None and outcome.rpo["lost"] == 3
    assert outcome.rpo["acknowledged"] >= 5
    # Exactly the acknowledged writes the run's events show: none made after the last sample
    # event, so whoever reads the stream can recount RPO.
    shown = [d["seq"] for k, d, _ in sink.events if k is EventType.SAMPLE and "seq" in d]
    assert outcome.rpo["acknowledged"] == len(shown) == len(set(shown))
    rpo_at = next(i for i, (k, _, _) in enumerate(sink.events) if k is EventType.RPO)
    assert not any(k is EventType.SAMPLE for k, _, _ in sink.events[rpo_at:])
    assert outcome.state is RunState.FAILED
    assert "RPO 3 acknowledged writes lost, objective 0" in outcome.reason
    assert any(k is EventType.RPO and d["lost"] == 3 for k, d, _ in sink.events)
