"""The live run page's websocket: replays a run's stored events, then pushes live ones.

Exactly once, in order, no gap: the consumer joins the run's feed (the process's one
subscription to the run's live events, drills/web/run_feed.py) before it reads the stored events,
so an event stored after that read also reaches it; live events the replay already covered
are dropped by seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from drills.web.metrics.exposition import EVENT_LAG
from drills.web.models import DrillRun, RunEvent
from drills.web.roles import Action, can
from drills.web.run_feed import Queue, feeds

log = logging.getLogger(__name__)

# Replay reads the stored stream in pages so a long run does not load at once.
REPLAY_PAGE = 500
# Close code for a malformed ?after= (4000-4999 are free for applications).
CLOSE_BAD_REQUEST = 4400


@database_sync_to_async
def group_for_user(run_id: int, user: Any) -> str | None:
    """The run's group name if the user may watch the run (any role in its playbook's team,
    drills.web.roles), else None."""
    run = DrillRun.objects.select_related("version__playbook").filter(id=run_id).first()
    if run is None or not can(user, Action.VIEW, run.playbook):
        return None
    return run.group_name


@database_sync_to_async
def stored_events(
    run_id: int, after: int, before: int | None = None, limit: int = REPLAY_PAGE
) -> list[dict[str, Any]]:
    """Stored events with after < seq (< before), in seq order."""
    events = RunEvent.objects.filter(run_id=run_id, seq__gt=after)
    if before is not None:
        events = events.filter(seq__lt=before)
    return [e.as_message() for e in events.order_by("seq")[:limit]]


def parse_after(query_string: bytes) -> int | None:
    """`after` from the query string: 0 when absent, None when malformed."""
    values = parse_qs(query_string.decode("latin-1")).get("after")
    if not values:
        return 0
    try:
        after = int(values[-1])
    except ValueError:
        return None
    return after if after >= 0 else None


class RunConsumer(AsyncJsonWebsocketConsumer):
    """Pushes one run's events; anything the client sends is ignored (commands are POSTs)."""

    run_id: int
    group: str | None = None
    last_seq: int = 0
    feed: Queue | None = None
    pump: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()
            return
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        # Access is checked once, here; a socket outliving a team change is acceptable.
        group = await group_for_user(self.run_id, user)
        if group is None:
            await self.close()
            return
        after = parse_after(self.scope.get("query_string", b""))
        if after is None:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        self.last_seq = after
        # Join first, read second: that order is what rules out a gap.
        self.feed = await feeds().join(group)
        self.group = group
        await self.accept()
        await self.replay(before=None)
        # Live events that came during the replay wait in the queue: from here, in order.
        self.pump = asyncio.get_running_loop().create_task(self._pump(self.feed))

    async def disconnect(self, code: int) -> None:
        if self.pump is not None:
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.pump
        if self.group is not None and self.feed is not None:
            await feeds().leave(self.group, self.feed)

    async def _pump(self, feed: Queue) -> None:
        try:
            while True:
                for event in await feed.get():
                    await self._live_event(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The database away while a gap was read, say: the page reconnects and replays
            # from its last seq, which a socket that went on could not promise.
            log.warning("run %s: live page closed after a failure", self.run_id, exc_info=True)
            await self.close()

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        # Not even decoded: a socket that only pushes cannot be broken by what it is sent.
        return None

    async def _live_event(self, event: dict[str, Any]) -> None:
        """One event as published once stored (drills/web/live_events.py)."""
        seq = int(event["seq"])
        if seq <= self.last_seq:
            return
        if seq > self.last_seq + 1:
            # A publish can be lost, and two processes can write to one run (a server's
            # abort, an orchestrator's events), so one may overtake the other; whatever
            # precedes `seq` is already stored (it is published only once committed).
            await self.replay(before=seq)
        await self.push(event)
        # Measured after the send, on live events only (a replay's are old on purpose).
        EVENT_LAG.observe(float(event["t"]))

    async def replay(self, before: int | None) -> None:
        while True:
            page = await stored_events(self.run_id, self.last_seq, before)
            for event in page:
                await self.push(event)
            if len(page) < REPLAY_PAGE:
                return

    async def push(self, event: dict[str, Any]) -> None:
        await self.send_json(event)
        self.last_seq = int(event["seq"])
