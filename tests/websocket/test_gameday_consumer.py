"""The game-day run's socket against the real ASGI application and the real Redis channel layer:
who may connect, that it says "changed" when the run or one of its drills moves, and that it
only pushes."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from drillhall.asgi import application
from drills.engine.events import EventType
from drills.web.gameday_runs import publish_gameday
from drills.web.models import DrillRun
from drills.web.stream import RunEventSink
from tests.web.gameday_scene import GameDayScene, build_gameday_scene
from tests.web.personas import World
from tests.websocket.test_run_consumer import ORIGIN, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture
def gd(world: World) -> GameDayScene:
    return build_gameday_scene(world)


def socket(gd: GameDayScene, user=None, run_id: int | None = None) -> WebsocketCommunicator:  # type: ignore[no-untyped-def]
    headers = [ORIGIN]
    if user is not None:
        headers.append(session_cookie(user))
    path = f"/ws/gamedays/runs/{run_id or gd.run.id}/"
    return WebsocketCommunicator(application, path, headers=headers)


def connects(ws: WebsocketCommunicator) -> bool:
    async def scenario() -> bool:
        connected, _ = await ws.connect()
        await ws.disconnect()
        return bool(connected)

    return async_to_sync(scenario)()


def test_an_anonymous_client_is_refused(gd: GameDayScene, redis_layer) -> None:  # type: ignore[no-untyped-def]
    assert connects(socket(gd)) is False


def test_an_outsider_is_refused(world: World, gd: GameDayScene, redis_layer) -> None:  # type: ignore[no-untyped-def]
    assert connects(socket(gd, world.outsider)) is False


def test_a_run_that_does_not_exist_is_refused(world: World, gd: GameDayScene, redis_layer) -> None:  # type: ignore[no-untyped-def]
    assert connects(socket(gd, world.admin, run_id=gd.run.id + 1000)) is False


def test_a_viewer_is_told_when_the_run_changes_and_what_it_sends_is_ignored(
    world: World, gd: GameDayScene, redis_layer
) -> None:  # type: ignore[no-untyped-def]
    ws = socket(gd, world.viewer)  # the session is made here, outside the event loop

    async def scenario() -> None:
        connected, _ = await ws.connect()
        assert connected
        await ws.send_to(text_data='{"type": "gameday.changed"}')  # a client cannot command it
        assert await ws.receive_nothing(timeout=0.3)
        await database_sync_to_async(publish_gameday)(gd.run.id)
        assert await ws.receive_json_from(timeout=3) == {"type": "changed"}
        await ws.disconnect()

    async_to_sync(scenario)()


def test_a_drills_state_change_tells_its_game_days_page(
    world: World, gd: GameDayScene, redis_layer
) -> None:  # type: ignore[no-untyped-def]
    """The drill's own events go to its own page; its game day hears that it moved."""

    def move() -> None:
        sink = RunEventSink(gd.drill.id)
        sink.emit(EventType.STATE, {"state": "recovering", "previous": "observing"}, 1.0)

    ws = socket(gd, world.viewer)  # the session is made here, outside the event loop

    async def scenario() -> None:
        connected, _ = await ws.connect()
        assert connected
        await database_sync_to_async(move)()
        assert await ws.receive_json_from(timeout=3) == {"type": "changed"}
        await ws.disconnect()

    async_to_sync(scenario)()
    assert DrillRun.objects.get(id=gd.drill.id).state == "recovering"


def test_a_drill_of_no_game_day_tells_no_game_day(
    world: World, gd: GameDayScene, redis_layer
) -> None:  # type: ignore[no-untyped-def]
    alone = DrillRun.objects.create(version=world.version, state="observing")

    ws = socket(gd, world.viewer)  # the session is made here, outside the event loop

    async def scenario() -> None:
        connected, _ = await ws.connect()
        assert connected
        sink = await database_sync_to_async(RunEventSink)(alone.id)
        await database_sync_to_async(sink.emit)(
            EventType.STATE,
            {"state": "recovering", "previous": "observing"},
            timezone.now().timestamp(),
        )
        assert await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()

    async_to_sync(scenario)()
