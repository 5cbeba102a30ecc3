"""Websocket URL patterns (the HTTP ones are in drills/web/urls.py)."""

from __future__ import annotations

from django.urls import path

from drills.web.consumers import RunConsumer

websocket_urlpatterns = [
    path("ws/runs/<int:run_id>/", RunConsumer.as_asgi(), name="ws-run"),
]
