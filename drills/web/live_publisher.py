"""Pushing stored run events to the channel layer from synchronous code, off the writer's path.

``async_to_sync(layer.group_send)`` runs each send on an event loop of its own, and the Redis
channel layer keeps its connections per loop: every event paid for a new connection and its
authentication, about 8 ms, on the thread that drives the run (docs/performance.md). Here one
thread per process keeps one loop, so the layer's connections are reused, and the writer only
hands the event over.

Each run's group has at most one send in flight, so its events leave in the order they were
stored; events handed over while one is in flight leave together, as one ``run.events``
message (a list), so a busy run costs one send per round trip instead of one per event. The
groups of different runs are sent to side by side: a send is a few Redis round trips (about
3 ms), and one at a time capped a process at about 350 events a second, which a hundred
drills at once exceed.

A send that fails is logged and dropped: the stored stream is the truth, and a live page that
sees a gap reads the missing events from it (drills/web/consumers.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Future, wait
from typing import Any

log = logging.getLogger(__name__)

Pending = list[tuple[dict[str, Any], "Future[None]"]]


class LivePublisher:
    """One event loop in a daemon thread, sending run events through ``layer``."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self._loop = asyncio.new_event_loop()
        self._pending: dict[str, Pending] = {}  # touched only on the loop's thread
        self._unsent: set[Future[None]] = set()  # for flush, from any thread
        self._unsent_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="live-publisher", daemon=True
        )
        self._thread.start()

    def send(self, group: str, event: dict[str, Any]) -> Future[None]:
        """Hand ``event`` (a stored event as a message) over; the future is done once it was
        sent (or dropped)."""
        done: Future[None] = Future()
        with self._unsent_lock:
            self._unsent.add(done)
        done.add_done_callback(self._sent)
        self._loop.call_soon_threadsafe(self._enqueue, group, event, done)
        return done

    def _sent(self, done: Future[None]) -> None:
        with self._unsent_lock:
            self._unsent.discard(done)

    def flush(self, timeout: float) -> bool:
        """Wait until every event handed over so far has left (or was dropped): a process
        about to exit (`drillhall run`, a one-off script) would take them with it, and a
        live page would not hear how the run ended. False when ``timeout`` ran out."""
        with self._unsent_lock:
            unsent = list(self._unsent)
        return not wait(unsent, timeout).not_done

    def _enqueue(self, group: str, event: dict[str, Any], done: Future[None]) -> None:
        pending = self._pending.get(group)
        if pending is not None:  # a send to this group is in flight: this one waits for it
            pending.append((event, done))
            return
        self._pending[group] = [(event, done)]
        self._loop.create_task(self._drain(group))

    async def _drain(self, group: str) -> None:
        while True:
            batch = self._pending[group]
            if not batch:
                del self._pending[group]
                return
            self._pending[group] = []
            try:
                await self.layer.group_send(
                    group, {"type": "run.events", "events": [event for event, _ in batch]}
                )
            except Exception:
                log.warning("could not publish %d events to %s", len(batch), group, exc_info=True)
            for _, done in batch:
                done.set_result(None)


_lock = threading.Lock()
_publishers: dict[int, LivePublisher] = {}


def flush_all(timeout: float = 2.0) -> bool:
    """``flush`` every publisher of this process, within ``timeout`` in all."""
    with _lock:
        publishers = list(_publishers.values())
    deadline = time.monotonic() + timeout
    return all([p.flush(max(0.0, deadline - time.monotonic())) for p in publishers])


def publisher_for(layer: Any) -> LivePublisher:
    """This process's publisher for ``layer`` (settings can change the layer in tests)."""
    with _lock:
        found = _publishers.get(id(layer))
        if found is None or found.layer is not layer:
            found = _publishers[id(layer)] = LivePublisher(layer)
        return found
