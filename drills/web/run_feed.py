"""One subscription to a run's group per server process, shared by every live page of that run
the process serves.

A page that joined the run's group itself got every event as a message of its own: with a
hundred pages open on one run, the channel layer wrote each event a hundred times to Redis and
this process read it back a hundred times, one round trip each, before any page could send it
(p99 366 ms from an event to the hundredth page, docs/performance.md). Here the first page of a
run in a process subscribes for all of them, on a channel of its own; each event is read once
and handed to every page's queue. The last page to leave unsubscribes.

The order a page relies on is kept: a page joins the feed before it reads the stored events
(drills/web/consumers.py), so an event stored after that read reaches its queue, which it
starts to empty once the replay is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger(__name__)

Queue = asyncio.Queue[dict[str, Any]]


class RunFeed:
    """The group's messages, read from one channel, copied to each joined queue."""

    def __init__(self, layer: Any, group: str) -> None:
        self.layer, self.group = layer, group
        self.queues: list[Queue] = []
        self.channel = ""
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        with contextlib.suppress(Exception):  # the group's membership expires by itself
            await self.layer.group_discard(self.group, self.channel)

    async def _read(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away for a moment: the pages catch up by seq
                log.warning("live events of %s not read", self.group, exc_info=True)
                await asyncio.sleep(0.5)
                continue
            for queue in list(self.queues):
                queue.put_nowait(message)


class Feeds:
    """The feeds of one event loop (a server process has one), by group."""

    def __init__(self) -> None:
        self._feeds: dict[tuple[int, str], RunFeed] = {}  # by (id of the layer, group)
        self._lock = asyncio.Lock()

    async def join(self, layer: Any, group: str) -> Queue:
        """A queue that gets every message sent to ``group`` from now on."""
        queue: Queue = asyncio.Queue()
        async with self._lock:
            feed = self._feeds.get((id(layer), group))
            if feed is None:
                feed = RunFeed(layer, group)
                await feed.start()
                self._feeds[(id(layer), group)] = feed
            feed.queues.append(queue)
        return queue

    async def leave(self, layer: Any, group: str, queue: Queue) -> None:
        async with self._lock:
            feed = self._feeds.get((id(layer), group))
            if feed is None or queue not in feed.queues:
                return
            feed.queues.remove(queue)
            if not feed.queues:
                del self._feeds[(id(layer), group)]
                await feed.stop()


_by_loop: dict[asyncio.AbstractEventLoop, Feeds] = {}


def feeds() -> Feeds:
    """This event loop's feeds."""
    loop = asyncio.get_running_loop()
    found = _by_loop.get(loop)
    if found is None:
        for old in [other for other in _by_loop if other.is_closed()]:
            del _by_loop[old]
        found = _by_loop[loop] = Feeds()
    return found
