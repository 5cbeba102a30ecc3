"""Beat's one periodic task of ours, the game-day clock, which drills/web/gameday_clock.py runs.

Apart from the clock because every migrate makes it (drills/web/apps.py), and importing the
clock imports the schedule's and the playbook's pydantic models: each CLI command migrates
first, and paid about 0.5 s for them.
"""

from __future__ import annotations

from django.conf import settings

from drills.web.tasks import GAMEDAY_TICK_TASK

CLOCK_NAME = "game-day clock"


def ensure_clock_task() -> None:
    """The periodic task beat sends: every DRILLHALL_GAMEDAY_TICK_SECONDS, expiring after one
    interval (a tick that waited longer in the queue is stale: the next one decides)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = max(1, round(float(settings.DRILLHALL_GAMEDAY_TICK_SECONDS)))
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=every, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.update_or_create(
        name=CLOCK_NAME,
        defaults={
            "task": GAMEDAY_TICK_TASK,
            "interval": interval,
            "queue": settings.DRILLHALL_ORCHESTRATOR_QUEUE,
            "expire_seconds": every,
            "enabled": True,
            "description": "Decides game-day fire times and moves game-day runs on "
            "(drills/web/gameday_clock.py).",
        },
    )
