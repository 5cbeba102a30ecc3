"""The run's event sink: a tick's samples stored together, in order, after what was stored."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from drills.engine.events import EventType
from drills.web.stream import RunEventSink
from tests.web.personas import World, make_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_emit_many_stores_a_ticks_samples_in_one_transaction_in_order(world: World) -> None:
    run = make_run(world.version, world.owner)
    sink = RunEventSink(run.id)
    sink.emit(EventType.STATE, {"state": "preflight", "previous": "pending"}, 1.0)
    samples = [(EventType.SAMPLE, {"probe": "shop", "ok": True, "n": n}) for n in range(5)]
    with CaptureQueriesContext(connection) as queries:
        sink.emit_many(samples, 2.0)
    stored = list(run.events.order_by("seq").values_list("seq", "type", "data"))
    assert [seq for seq, _, _ in stored] == [1, 2, 3, 4, 5, 6]
    assert [data.get("n") for _, type, data in stored if type == "sample"] == [0, 1, 2, 3, 4]
    # One atomic block for the five inserts, not five.
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 5 and len(queries.captured_queries) <= 8
