"""One subscription to a run's live events per server process, shared by every live page of
that run the process serves.

The other end is ``drills/web/live_events.py``: whoever commits a run's events publishes them
on the run's Redis pub/sub channel. Here each server process keeps one pub/sub connection;
the first page of a run subscribes to the run's channel for all pages of it, each published
batch is read once and handed to every page's queue, and the last page to leave
unsubscribes. (Before, every page was a member of the run's channel-layer group, and with a
hundred pages on one run every event was written to Redis and read back a hundred times:
p99 366 ms from an event to the hundredth page, docs/performance.md.)

The order a page relies on is kept: ``join`` returns once Redis confirmed the subscription,
and a page joins before it reads the stored events (drills/web/consumers.py), so an event
stored after that read reaches its queue, which it starts to empty once the replay is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from drills.web.live_events import channel_of

log = logging.getLogger(__name__)

# What a page's queue holds: the events of one publish, in seq order.
Queue = asyncio.Queue[list[dict[str, Any]]]

# How long a join waits for Redis to confirm the subscription before the page gives up.
SUBSCRIBE_TIMEOUT_S = 5.0
# How long one read of the connection waits: subscribing happens between reads.
READ_WAIT_S = 0.1


class Feeds:
    """The run feeds of one event loop (a server process has one), on one Redis connection."""

    def __init__(self, url: str) -> None:
        self._client = aioredis.Redis.from_url(url)
        self._pubsub = self._client.pubsub()
        self._queues: dict[str, list[Queue]] = {}  # by channel
        self._confirmed: dict[str, asyncio.Event] = {}  # subscriptions Redis acknowledged
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None

    async def join(self, group: str) -> Queue:
        """A queue that gets every batch of events published to ``group`` from now on."""
        channel = channel_of(group)
        queue: Queue = asyncio.Queue()
        async with self._lock:
            queues = self._queues.get(channel)
            if queues is None:
                confirmed = self._confirmed[channel] = asyncio.Event()
                await self._pubsub.subscribe(channel)
                self._start_reading()
                try:
                    await asyncio.wait_for(confirmed.wait(), SUBSCRIBE_TIMEOUT_S)
                except BaseException:
                    self._confirmed.pop(channel, None)
                    with contextlib.suppress(RedisError, OSError):
                        await self._pubsub.unsubscribe(channel)
                    raise
                queues = self._queues[channel] = []
            queues.append(queue)
        return queue

    async def leave(self, group: str, queue: Queue) -> None:
        channel = channel_of(group)
        async with self._lock:
            queues = self._queues.get(channel)
            if queues is None or queue not in queues:
                return
            queues.remove(queue)
            if queues:
                return
            del self._queues[channel]
            self._confirmed.pop(channel, None)
            with contextlib.suppress(RedisError, OSError):  # gone with the connection anyway
                await self._pubsub.unsubscribe(channel)

    def _start_reading(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while True:
            try:
                if not self._pubsub.subscribed:
                    await asyncio.sleep(READ_WAIT_S)
                    continue
                message = await self._pubsub.get_message(timeout=READ_WAIT_S)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away for a moment: the pages catch up by seq
                log.warning("live run events not read", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            if message is not None:
                self._hand_out(message)

    def _hand_out(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        if message["type"] == "subscribe":
            if channel in self._confirmed:
                self._confirmed[channel].set()
            return
        if message["type"] != "message":
            return
        try:
            events = json.loads(message["data"])
        except ValueError:
            log.warning("an unreadable live message on %s was dropped", channel)
            return
        if not isinstance(events, list):
            return
        for queue in list(self._queues.get(channel, ())):
            queue.put_nowait(events)


_by_loop: dict[asyncio.AbstractEventLoop, Feeds] = {}


def feeds() -> Feeds:
    """This event loop's feeds, on the settings' Redis."""
    from django.conf import settings

    loop = asyncio.get_running_loop()
    found = _by_loop.get(loop)
    if found is None:
        for old in [other for other in _by_loop if other.is_closed()]:
            del _by_loop[old]
        found = _by_loop[loop] = Feeds(settings.REDIS_URL)
    return found
