"""The orchestrator's Celery app (Django-aware). Agents have their own app in injector.agent."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drillhall.settings")

app = Celery("drillhall")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["drills.web"])
