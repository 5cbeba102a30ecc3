"""The live run socket against the real ASGI application and the real Redis (its pub/sub for
live events, its channel layer for the rest)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio
from asgiref.sync import async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from drillhall.asgi import application
from drills.web import consumers
from drills.web.live_events import channel_of, live_events
from drills.web.models import DrillRun, RunEvent
from tests.web.personas import World, make_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

ORIGIN = (b"origin", b"http://localhost")


def session_cookie(user) -> tuple[bytes, bytes]:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode())


def socket(  # type: ignore[no-untyped-def]
    run: DrillRun,
    user=None,
    after: int | str | None = None,
    origin: tuple[bytes, bytes] = ORIGIN,
    run_id: int | None = None,
) -> WebsocketCommunicator:
    path = f"/ws/runs/{run_id or run.id}/" + ("" if after is None else f"?after={after}")
    headers = [origin]
    if user is not None:
        headers.append(session_cookie(user))
    return WebsocketCommunicator(application, path, headers=headers)


def store(run: DrillRun, seq: int) -> dict[str, Any]:
    event = RunEvent.objects.create(
        run=run,
        seq=seq,
        type="sample",
        t=1000.0 + seq,
        data={"probe": "checkout", "ok": True, "latency_ms": 2.5},
    )
    return event.as_message()


astore = database_sync_to_async(store)


async def publish(run: DrillRun, event: dict[str, Any]) -> None:
    """As the writer does once the event is committed (drills/web/live_events.py)."""
    await sync_to_async(live_events().publish)(run.group_name, [event])


async def receive_seqs(ws: WebsocketCommunicator, count: int) -> list[int]:
    return [(await ws.receive_json_from(timeout=3))["seq"] for _ in range(count)]


def test_it_refuses_an_anonymous_client(world: World, redis_layer):
    run = make_run(world.version, world.owner)

    async def scenario() -> None:
        ws = socket(run)
        connected, _ = await ws.connect()
        assert not connected

    async_to_sync(scenario)()


def test_it_refuses_an_outsider(world: World, redis_layer):
    run = make_run(world.version, world.owner)
    ws = socket(run, world.outsider)

    async def scenario() -> None:
        connected, _ = await ws.connect()
        assert not connected

    async_to_sync(scenario)()


def test_it_refuses_a_foreign_origin(world: World, redis_layer):
    run = make_run(world.version, world.owner)
    ws = socket(run, world.owner, origin=(b"origin", b"http://evil.example"))

    async def scenario() -> None:
        connected, _ = await ws.connect()
        assert not connected

    async_to_sync(scenario)()


def test_it_refuses_an_unknown_run(world: World, redis_layer):
    run = make_run(world.version, world.owner)
    ws = socket(run, world.owner, run_id=run.id + 1000)

    async def scenario() -> None:
        connected, _ = await ws.connect()
        assert not connected

    async_to_sync(scenario)()


def test_a_team_member_gets_stored_events_in_order_then_live_ones(world: World, redis_layer):
    run = make_run(world.version, world.owner)
    for seq in (1, 2, 3):
        store(run, seq)
    ws = socket(run, world.member)

    async def scenario() -> None:
        connected, _ = await ws.connect()
        assert connected
        first = await ws.receive_json_from(timeout=3)
        assert first == {
            "seq": 1,
            "type": "sample",
            "t": 1001.0,
            "data": {"probe": "checkout", "ok": True, "latency_ms": 2.5},
            "text": "checkout ok, 2.5 ms",
        }
        assert await receive_seqs(ws, 2) == [2, 3]
        for seq in (4, 5):
            await publish(run, await astore(run, seq))
        assert await receive_seqs(ws, 2) == [4, 5]
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()

    async_to_sync(scenario)()


def test_a_page_idle_longer_than_the_layers_blocking_read_gets_the_next_event(
    world: World, redis_layer
):
    # channels-redis waits for a message with a 5 s blocking pop; a socket timeout of 5 s
    # (redis-py 8's default) ended an idle page's read with an error, and its socket with it.
    run = make_run(world.version, world.owner)
    store(run, 1)
    ws = socket(run, world.member)

    async def scenario() -> None:
        connected, _ = await ws.connect()
        assert connected
        assert await receive_seqs(ws, 1) == [1]
        assert await ws.receive_nothing(timeout=6.5, interval=0.5)
        await publish(run, await astore(run, 2))
        assert await receive_seqs(ws, 1) == [2]
        await ws.disconnect()

    async_to_sync(scenario)()


def test_it_resumes_after_n_without_duplicates(world: World, redis_layer):
    run = make_run(world.version, world.owner)
    for seq in range(1, 6):
        store(run, seq)
    ws = socket(run, world.owner, after=2)

    async def scenario() -> None:
        connected, _ = await ws.connect()
        assert connected
        assert await receive_seqs(ws, 3) == [3, 4, 5]
        # Events the replay already carried, published late (the writer publishes after it
        # stores, so this happens to a client connecting at that moment): dropped.
        for seq in (2, 4, 5):
            await publish(run, {"seq": seq, "type": "sample", "t": 0.0, "data": {}})
        await publish(run, await astore(run, 6))
        assert await receive_seqs(ws, 1) == [6]
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()

    async_to_sync(scenario)()


def test_it_fills_a_gap_left_by_a_lost_or_late_publish(world: World, redis_layer):
    run = make_run(world.version, world.owner)
    store(run, 1)
    ws = socket(run, world.owner)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        assert await receive_seqs(ws, 1) == [1]
        late = await astore(run, 2)  # stored, its publish not yet out
        await publish(run, await astore(run, 3))
        assert await receive_seqs(ws, 2) == [2, 3]
        await publish(run, late)
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()

    async_to_sync(scenario)()


def test_an_event_written_right_after_the_replay_read_still_arrives(
    world: World, redis_layer, monkeypatch
):
    """The last event of a run lands between the consumer's read and its first live message.

    Nothing follows it to reveal a gap, so only joining the group before reading saves it.
    """
    run = make_run(world.version, world.owner)
    store(run, 1)
    read = consumers.stored_events
    written: list[int] = []

    async def read_then_write(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        page = await read(*args, **kwargs)
        if not written:
            written.append(2)
            await publish(run, await astore(run, 2))
        return page

    monkeypatch.setattr(consumers, "stored_events", read_then_write)
    ws = socket(run, world.owner)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        assert await receive_seqs(ws, 2) == [1, 2]
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()

    async_to_sync(scenario)()


def test_it_ignores_what_the_client_sends(world: World, redis_layer):
    run = make_run(world.version, world.owner)
    ws = socket(run, world.owner)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        await ws.send_to(text_data="not json at all")
        await ws.send_to(bytes_data=b"\x00\x01")
        assert await ws.receive_nothing(timeout=0.3)
        await publish(run, await astore(run, 1))
        assert await receive_seqs(ws, 1) == [1]
        await ws.disconnect()

    async_to_sync(scenario)()


def test_it_closes_on_a_malformed_after(world: World, redis_layer):
    run = make_run(world.version, world.owner)
    ws = socket(run, world.owner, after="soon")

    async def scenario() -> None:
        connected, _ = await ws.connect()
        assert not connected

    async_to_sync(scenario)()


def test_clients_connecting_while_a_writer_runs_see_every_event_exactly_once(
    world: World, redis_layer
):
    """The real race: store-then-publish keeps going while clients connect and resume."""
    run = make_run(world.version, world.owner)
    total = 60
    cookie = session_cookie(world.owner)

    async def writer() -> None:
        for seq in range(1, total + 1):
            await publish(run, await astore(run, seq))
            await asyncio.sleep(0.002)

    async def watcher(start_after_seq: int, after: int) -> list[int]:
        while await database_sync_to_async(run.events.count)() < start_after_seq:
            await asyncio.sleep(0.001)
        ws = WebsocketCommunicator(
            application, f"/ws/runs/{run.id}/?after={after}", headers=[ORIGIN, cookie]
        )
        assert (await ws.connect())[0]
        seen = []
        while not seen or seen[-1] < total:
            seen.append((await ws.receive_json_from(timeout=5))["seq"])
        assert await ws.receive_nothing(timeout=0.2)
        await ws.disconnect()
        return seen

    async def scenario() -> list[list[int]]:
        results = await asyncio.gather(
            writer(), watcher(5, 0), watcher(20, 0), watcher(30, 12), watcher(45, 40)
        )
        return results[1:]

    fresh_a, fresh_b, resumed_12, resumed_40 = async_to_sync(scenario)()
    assert fresh_a == list(range(1, total + 1))
    assert fresh_b == list(range(1, total + 1))
    assert resumed_12 == list(range(13, total + 1))
    assert resumed_40 == list(range(41, total + 1))


def test_the_pages_of_one_run_share_one_subscription_and_each_gets_every_event(
    world: World, redis_layer
):
    # A hundred pages on one run used to be a hundred members of its group: every event
    # written to Redis and read back once per page. Now the process subscribes once.
    run = make_run(world.version, world.owner)
    store(run, 1)
    pages = [socket(run, person) for person in (world.owner, world.member, world.member)]

    async def members() -> int:  # subscribed connections: one per server process
        client = redis.asyncio.Redis.from_url(settings.REDIS_URL)
        try:
            ((_, count),) = await client.pubsub_numsub(channel_of(run.group_name))
            return int(count)
        finally:
            await client.aclose()

    async def scenario() -> None:
        for ws in pages:
            connected, _ = await ws.connect()
            assert connected
            assert await receive_seqs(ws, 1) == [1]
        assert await members() == 1
        for seq in (2, 3):
            await publish(run, await astore(run, seq))
        for ws in pages:
            assert await receive_seqs(ws, 2) == [2, 3]
            assert await ws.receive_nothing(timeout=0.2)
        await pages[0].disconnect()
        await publish(run, await astore(run, 4))
        for ws in pages[1:]:
            assert await receive_seqs(ws, 1) == [4]
        for ws in pages[1:]:
            await ws.disconnect()
        assert await members() == 0  # the last page to leave unsubscribes

    async_to_sync(scenario)()
