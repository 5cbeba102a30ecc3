"""The event lag histogram: observed where the live socket sends a live event, and only then."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from drills.web.metrics.exposition import REGISTRY
from drills.web.models import DrillRun, RunEvent
from tests.web.personas import World, make_run
from tests.websocket.test_run_consumer import publish, receive_seqs, socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def lag(name: str) -> float:
    return REGISTRY.get_sample_value(f"drillhall_event_lag_seconds_{name}") or 0.0


def store(run: DrillRun, seq: int, t: float) -> dict:  # type: ignore[type-arg]
    return RunEvent.objects.create(run=run, seq=seq, type="state", t=t, data={}).as_message()


def test_live_events_are_measured_from_their_time_and_replays_are_not(
    world: World, redis_layer
) -> None:  # type: ignore[no-untyped-def]
    run = make_run(world.version, world.owner)
    store(run, 1, 1000.0)  # an old event, replayed on connect: not a lag
    count, total = lag("count"), lag("sum")
    quick = REGISTRY.get_sample_value("drillhall_event_lag_seconds_bucket", {"le": "0.25"})
    ws = socket(run, world.member)

    async def scenario() -> None:
        connected, _ = await ws.connect()
        assert connected
        assert await receive_seqs(ws, 1) == [1]
        event = await database_sync_to_async(store)(run, 2, time.time() - 0.5)
        await publish(run, event)
        assert await receive_seqs(ws, 1) == [2]
        await ws.disconnect()

    async_to_sync(scenario)()
    assert lag("count") == count + 1
    assert 0.5 <= lag("sum") - total < 5
    # Half a second late is beyond the 0.25 s bucket.
    assert REGISTRY.get_sample_value("drillhall_event_lag_seconds_bucket", {"le": "0.25"}) == quick
