"""Run events reach the live pages' Redis channel only once committed, from the committing
thread; a writer's batch leaves in one go; a Redis that is away costs the live copy only."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.db import connection, transaction

from drills.engine.events import EventType
from drills.web.live_events import channel_of, live_events
from drills.web.stream import RunEventSink
from tests.conftest import free_port
from tests.web.personas import World, make_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


class Listener:
    """A subscriber to some runs' live channels, as a server process is."""

    def __init__(self, url: str, groups: list[str]) -> None:
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub()
        self.pubsub.subscribe(*[channel_of(g) for g in groups])
        confirmed = 0
        while confirmed < len(groups):
            message = self.pubsub.get_message(timeout=5)
            assert message is not None, "Redis did not confirm the subscriptions"
            confirmed += message["type"] == "subscribe"

    def batches(self, wait: float) -> list[tuple[str, list[dict[str, Any]]]]:
        """What was published until nothing more came for ``wait`` seconds."""
        out = []
        while (message := self.pubsub.get_message(timeout=wait)) is not None:
            if message["type"] == "message":
                out.append((message["channel"].decode(), json.loads(message["data"])))
        return out

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


@pytest.fixture
def live_redis(settings, needs_redis: str) -> str:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = needs_redis
    return needs_redis


@pytest.fixture
def listener(world: World, live_redis: str) -> Iterator[Any]:
    made: list[Listener] = []

    def listen(*groups: str) -> Listener:
        made.append(Listener(live_redis, list(groups)))
        return made[-1]

    yield listen
    for one in made:
        one.close()


def test_what_a_batch_publishes_leaves_together_when_it_ends(listener) -> None:  # type: ignore[no-untyped-def]
    heard = listener("run-a", "run-b")
    live = live_events()
    with live.batched():
        live.publish("run-a", [{"seq": 1}])
        live.publish("run-b", [{"seq": 1}, {"seq": 2}])
        live.publish("run-a", [{"seq": 2}])
        assert heard.batches(0.2) == []  # nothing before the batch ends
    assert heard.batches(1.0) == [
        (channel_of("run-a"), [{"seq": 1}]),
        (channel_of("run-b"), [{"seq": 1}, {"seq": 2}]),
        (channel_of("run-a"), [{"seq": 2}]),
    ]


def test_events_are_published_once_committed_and_never_when_rolled_back(
    world: World, listener
) -> None:  # type: ignore[no-untyped-def]
    run = make_run(world.version, world.owner)
    heard = listener(run.group_name)
    sink = RunEventSink(run.id)

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        sink.emit(EventType.SAMPLE, {"probe": "shop", "ok": True, "n": 0}, 1.0)
        assert heard.batches(0.2) == []  # stored, not yet committed
        raise Undo
    assert heard.batches(0.3) == []
    sink = RunEventSink(run.id)
    with transaction.atomic():
        sink.emit(EventType.SAMPLE, {"probe": "shop", "ok": True, "n": 1}, 2.0)
        assert heard.batches(0.2) == []
    ((channel, events),) = heard.batches(1.0)
    assert channel == channel_of(run.group_name)
    assert [(e["seq"], e["type"], e["data"]["n"]) for e in events] == [(1, "sample", 1)]


def test_the_writer_publishes_each_runs_events_in_order(world: World, listener) -> None:  # type: ignore[no-untyped-def]
    runs = [make_run(world.version, world.owner) for _ in range(4)]
    heard = listener(*[run.group_name for run in runs])

    def emit(run_id: int) -> None:
        sink = RunEventSink(run_id)
        for n in range(25):
            sink.emit_many([(EventType.SAMPLE, {"probe": "shop", "ok": True, "n": n})] * 2, n)
        connection.close()

    threads = [threading.Thread(target=emit, args=(run.id,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    seqs: dict[str, list[int]] = {}
    for channel, events in heard.batches(1.0):
        seqs.setdefault(channel, []).extend(e["seq"] for e in events)
    assert seqs == {channel_of(run.group_name): list(range(1, 51)) for run in runs}


def test_a_redis_that_is_away_loses_the_live_copy_and_not_the_stored_events(
    world: World, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    run = make_run(world.version, world.owner)
    RunEventSink(run.id).emit(EventType.STATE, {"state": "preflight", "previous": "pending"}, 1.0)
    assert list(run.events.values_list("seq", "type")) == [(1, "state")]
