"""RPO through the run loop with a PostgreSQL canary: rows deleted by the 'fault' are counted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from drills.engine.events import EventType, MemorySink
from drills.engine.plan import resolve_plan
from drills.engine.runner import DrillRunner, RunOptions
from drills.engine.states import RunState
from drills.playbook.parser import parse_playbook
from tests.engine.test_runner import INVENTORY, FakeDriver, Service
from tests.verifier.probes.pgserver import PgServer, postgres_server
from verifier.probes.pgcanary import TABLE

PLAYBOOK = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {{name: pg-canary-drill}}
targets:
  app: {{host: h1}}
  db: {{host: h2}}
probes:
  - name: orders
    canary: {{postgres: {{dsn: "{dsn}"}}}}
    every: 100ms
steps:
  - wait: 500ms
  - {{fault: network.partition, target: db, from: [app], duration: 500ms}}
objectives: {{rpo: 0}}
"""


class LosingDriver(FakeDriver):
    """Its 'fault' deletes the three oldest canary rows: real loss of acknowledged writes."""

    def __init__(self, service: Service, server: PgServer) -> None:
        super().__init__(service)
        self.server = server
        self.deleted: list[int] = []

    def apply(self, queue: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
        with psycopg.connect(self.server.dsn, autocommit=True) as conn:
            rows = conn.execute(
                f"DELETE FROM {TABLE} WHERE seq IN "
                f"(SELECT seq FROM {TABLE} ORDER BY seq LIMIT 3) RETURNING seq"
            ).fetchall()
        self.deleted = sorted(int(seq) for (seq,) in rows)
        return super().apply(queue, spec, timeout)


@pytest.fixture
def service() -> Iterator[Service]:
    s = Service()
    yield s
    s.server.shutdown()


def run_drill(server: PgServer, driver: FakeDriver) -> tuple[Any, MemorySink]:
    playbook = parse_playbook(PLAYBOOK.format(dsn=server.dsn))
    sink = MemorySink()
    runner = DrillRunner(
        21, playbook, resolve_plan(playbook, INVENTORY), driver, sink,
        options=RunOptions(settle_seconds=0.2, tick_seconds=0.05, min_recovery_seconds=0.5),
    )  # fmt: skip
    return runner.run(), sink


def test_rpo_counts_rows_of_acknowledged_writes_that_are_gone(service: Service) -> None:
    with postgres_server() as server:
        driver = LosingDriver(service, server)
        outcome, sink = run_drill(server, driver)
    assert driver.deleted == [1, 2, 3]
    assert outcome.rpo is not None and outcome.rpo["lost"] == 3
    assert outcome.rpo["acknowledged"] >= 5
    assert outcome.state is RunState.FAILED
    assert "RPO 3 acknowledged writes lost, objective 0" in outcome.reason
    assert any(k is EventType.RPO and d["lost"] == 3 for k, d, _ in sink.events)


def test_rpo_is_zero_when_every_row_is_still_there(service: Service) -> None:
    with postgres_server() as server:
        outcome, _ = run_drill(server, FakeDriver(service))
    assert outcome.rpo is not None and outcome.rpo["lost"] == 0
    assert outcome.rpo["acknowledged"] >= 5
    assert outcome.state is RunState.PASSED, outcome.reason
