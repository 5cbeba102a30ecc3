"""A run's stored events on their way to the live pages: published on a Redis pub/sub channel
of the run, once committed, by the thread that committed them.

The other end is ``drills/web/run_feed.py``: each server process subscribes once per run that
one of its pages shows.

Before, the run's thread woke once its write was committed and handed the events to a
publisher thread, which sent them through the channel layer's ``group_send`` (a sorted set of
members read and trimmed, then a script per member: several round trips and msgpack per run
and send). With a hundred drills in one orchestrator those were three threads queuing for the
GIL on every event's way, and a sixth of the time the orchestrator held it
(docs/performance.md, "Many drills at once"). Now the writer thread publishes, right after the
commit, every run's events of the batch in one pipelined round trip of PUBLISH commands, JSON.

Nothing is published that was not committed: the sink asks for it in ``on_commit``. A publish
that fails is logged and dropped, as a message nobody listens to is: the stored stream is the
truth, and a live page that sees a gap reads the missing events from it
(drills/web/consumers.py). Only the server's Redis user may publish on these channels
(injector/redis_acl.py): an agent's cannot.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "drillhall:live:"
REDIS_TIMEOUT_S = 2.0


def channel_of(group: str) -> str:
    """The pub/sub channel of a run's group (``DrillRun.group_name``)."""
    return CHANNEL_PREFIX + group


Events = list[dict[str, Any]]


class LiveEvents:
    """Publishes run events through one Redis client (its connections are reused)."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._local = threading.local()

    def publish(self, group: str, events: Events) -> None:
        """Send ``events`` (stored events as messages, in seq order) to the run's pages: now,
        or with the rest of the batch when this thread is inside ``batched()``."""
        held: list[tuple[str, Events]] | None = getattr(self._local, "held", None)
        if held is not None:
            held.append((group, events))
        else:
            self._send([(group, events)])

    @contextmanager
    def batched(self) -> Iterator[None]:
        """What this thread publishes inside leaves together at the end, one round trip."""
        if getattr(self._local, "held", None) is not None:  # already inside: the outer sends
            yield
            return
        self._local.held = []
        try:
            yield
        finally:
            held, self._local.held = self._local.held, None
            if held:
                self._send(held)

    def _send(self, items: list[tuple[str, Events]]) -> None:
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for group, events in items:
                    pipe.publish(channel_of(group), json.dumps(events))
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("could not publish the live events of %d runs: %s", len(items), exc)


_lock = threading.Lock()
_by_url: dict[str, LiveEvents] = {}


def live_events() -> LiveEvents:
    """This process's publisher, on the settings' Redis."""
    from django.conf import settings

    with _lock:
        found = _by_url.get(settings.REDIS_URL)
        if found is None:
            found = _by_url[settings.REDIS_URL] = LiveEvents(settings.REDIS_URL)
        return found
