"""Websocket URL patterns (the HTTP ones are in drills/web/urls.py)."""

from __future__ import annotations

from django.urls import path

from drills.web.consumers import RunConsumer
from drills.web.gameday_consumer import GameDayRunConsumer

websocket_urlpatterns = [
    path("ws/runs/<int:run_id>/", RunConsumer.as_asgi(), name="ws-run"),
    path(
        "ws/gamedays/runs/<int:gameday_run_id>/",
        GameDayRunConsumer.as_asgi(),
        name="ws-gameday-run",
    ),
]
