"""One short drill around a write canary, for RPO tests of any canary kind.

Half a second of canary writes, a half-second fault on the fake driver, then recovery; the
objective is RPO 0, so any acknowledged write that cannot be read back fails the run.
"""

from __future__ import annotations

from drills.engine.events import MemorySink
from drills.engine.plan import resolve_plan
from drills.engine.runner import DrillRunner, RunOptions, RunOutcome
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


def run_canary_drill(run_id: int, canary: str, driver: FakeDriver) -> tuple[RunOutcome, MemorySink]:
    """Run the drill with `canary` (the probe's canary mapping, in flow YAML) as probe orders."""
    playbook = parse_playbook(PLAYBOOK.format(canary=canary))
    sink = MemorySink()
    runner = DrillRunner(
        run_id, playbook, resolve_plan(playbook, INVENTORY), driver, sink,
        options=RunOptions(settle_seconds=0.2, tick_seconds=0.05, min_recovery_seconds=0.5),
    )  # fmt: skip
    return runner.run(), sink
