"""Pushing stored events to the channel layer from synchronous code, off the writer's path.

``async_to_sync(layer.group_send)`` runs each send on an event loop of its own, and the Redis
channel layer keeps its connections per loop: every event paid for a new connection and its
authentication, about 8 ms, on the thread that drives the run (docs/performance.md). Here one
thread per process keeps one loop, so the layer's connections are reused, and the writer only
hands the message over. Sends leave in the order they were handed over (one loop, one
thread), which is the order the writer stored them.

A send that fails is logged and dropped: the stored stream is the truth, and a live page that
sees a gap reads the missing events from it (drills/web/consumers.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from typing import Any

log = logging.getLogger(__name__)


class LivePublisher:
    """One event loop in a daemon thread, sending group messages through ``layer`` one at a
    time, in the order they were handed over (concurrent sends could overtake each other)."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self._loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue[tuple[str, dict[str, Any], Future[None]]] | None = None
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="live-publisher", daemon=True
        )
        self._thread.start()
        ready.wait()

    def send(self, group: str, message: dict[str, Any]) -> Future[None]:
        """Hand ``message`` over; the future is done once it was sent (or dropped)."""
        done: Future[None] = Future()
        assert self._queue is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (group, message, done))
        return done

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._queue = asyncio.Queue()
        ready.set()
        self._loop.run_until_complete(self._sender())

    async def _sender(self) -> None:
        assert self._queue is not None
        while True:
            group, message, done = await self._queue.get()
            try:
                await self.layer.group_send(group, message)
            except Exception:
                log.warning("could not publish to %s", group, exc_info=True)
            done.set_result(None)


_lock = threading.Lock()
_publishers: dict[int, LivePublisher] = {}


def publisher_for(layer: Any) -> LivePublisher:
    """This process's publisher for ``layer`` (settings can change the layer in tests)."""
    with _lock:
        found = _publishers.get(id(layer))
        if found is None or found.layer is not layer:
            found = _publishers[id(layer)] = LivePublisher(layer)
        return found
