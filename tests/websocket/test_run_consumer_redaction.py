"""The live page's socket replays events stored before redaction without their passwords."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from drills.web.models import RunEvent
from tests.web.personas import World, make_run
from tests.websocket.test_run_consumer import socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def test_a_replayed_event_shows_no_password(world: World, redis_layer):
    run = make_run(world.version, world.owner)
    error = "could not connect to postgresql://shop:hunter2@db1/shop"
    RunEvent.objects.create(run=run, seq=1, type="error", t=1001.0, data={"message": error})
    ws = socket(run, world.member)

    async def scenario() -> dict:
        connected, _ = await ws.connect()
        assert connected
        event = await ws.receive_json_from(timeout=3)
        await ws.disconnect()
        return event

    event = async_to_sync(scenario)()
    assert event["data"] == {
        "message": "could not connect to postgresql://shop:<redacted>@db1/shop"
    }
