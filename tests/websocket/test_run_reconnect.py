"""A watcher whose connection drops mid-stream resumes after its last seq and misses nothing.

The writer is the real RunEventSink (store, then publish on the real Redis pub/sub),
emitting all the while: before the drop, while nobody listens, and after the reconnect.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from drillhall.asgi import application
from drills.engine.events import EventType
from drills.web.stream import RunEventSink
from tests.web.personas import World, make_run
from tests.websocket.test_run_consumer import ORIGIN, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

TOTAL = 120
DROP_AFTER = 20  # events the first connection reads before it drops
WRITE_GAP = 0.01  # seconds between two events: the writer outlives both connections


def test_a_dropped_watcher_resumes_after_its_last_seq_and_gets_every_event_once(
    world: World, redis_layer
):
    run = make_run(world.version, world.owner, state="observing")
    headers = [ORIGIN, session_cookie(world.owner)]
    stored = database_sync_to_async(run.events.count)

    async def scenario() -> tuple[list[int], list[int], int, bool]:
        sink = await database_sync_to_async(RunEventSink)(run.id)
        emit = database_sync_to_async(sink.emit)

        async def writer() -> None:
            for i in range(TOTAL):
                data = {"probe": "checkout", "ok": True, "latency_ms": 1.0 + i}
                await emit(EventType.SAMPLE, data, 1000.0 + i)
                await asyncio.sleep(WRITE_GAP)

        writing = asyncio.create_task(writer())
        first = WebsocketCommunicator(application, f"/ws/runs/{run.id}/", headers=headers)
        assert (await first.connect())[0]
        before: list[int] = []
        while len(before) < DROP_AFTER:
            before.append((await first.receive_json_from(timeout=5))["seq"])
        await first.disconnect()  # whatever was on its way to this socket is gone with it

        # Nobody listens while the writer goes on.
        while await stored() < before[-1] + 20:
            await asyncio.sleep(0.01)
        missed = await stored() - before[-1]
        second = WebsocketCommunicator(
            application, f"/ws/runs/{run.id}/?after={before[-1]}", headers=headers
        )
        assert (await second.connect())[0]
        still_writing = not writing.done()
        after: list[int] = []
        while not after or after[-1] < TOTAL:
            after.append((await second.receive_json_from(timeout=5))["seq"])
        assert await second.receive_nothing(timeout=0.3)
        await second.disconnect()
        await writing
        return before, after, missed, still_writing

    before, after, missed, still_writing = async_to_sync(scenario)()
    assert missed >= 20  # events were stored while no socket was open
    assert still_writing  # and more came live on the second socket
    assert before == list(range(1, DROP_AFTER + 1))
    assert before + after == list(range(1, TOTAL + 1))
