"""The game-day run's live page socket: tells the page that the run changed, nothing more.

A game-day run has no event stream of its own: its rows (its state, its drills' states, the
observations) are the truth, and drills.web.gameday_runs.publish_gameday says "changed" to the
run's group whenever one of them moves. The page then refetches the fragment of its state
(drills.web.views.gameday_run_pages), and refetches on every (re)connect too, so a message
lost while it was away costs nothing. Access is checked once, at connect; the socket only
pushes.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from drills.web.models import GameDayRun
from drills.web.roles import Action, can


@database_sync_to_async
def group_for_user(run_id: int, user: Any) -> str | None:
    """The game-day run's group if ``user`` may see its game day, else None."""
    run = GameDayRun.objects.select_related("gameday").filter(id=run_id).first()
    if run is None or not can(user, Action.VIEW, run.gameday):
        return None
    return run.group_name


class GameDayRunConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()
            return
        run_id = int(self.scope["url_route"]["kwargs"]["gameday_run_id"])
        group = await group_for_user(run_id, user)
        if group is None:
            await self.close()
            return
        await self.channel_layer.group_add(group, self.channel_name)
        self.group = group
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        return None  # commands are POSTs; whatever a client sends is not even read

    async def gameday_changed(self, message: dict[str, Any]) -> None:
        """Handler for group messages of type "gameday.changed"."""
        await self.send_json({"type": "changed"})
