"""Celery tasks: thin shells that take ids and call the engine."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from injector.protocol import REGISTER_HOST_TASK, Refusal

logger = logging.getLogger(__name__)

RUN_DRILL_TASK = "drillhall.run_drill"


@shared_task(name=RUN_DRILL_TASK, acks_late=True)
def run_drill(run_key: str) -> str:
    from drills.web.orchestrator import execute_run

    return execute_run(run_key)


@shared_task(name=REGISTER_HOST_TASK, ignore_result=True)
def register_host(payload: dict[str, Any]) -> dict[str, Any]:
    """An agent announcing itself at start (see injector.agent); idempotent."""
    from drills.web.hosts import RegistrationError, register_agent_recorded

    try:
        return register_agent_recorded(payload)
    except RegistrationError as exc:
        # Said in the worker's log as a sentence, not as a task failure with a traceback.
        logger.warning("host registration refused: %s", exc)
        return Refusal(str(exc)).to_json()


@worker_ready.connect
def _sweep_for_lost_runs(sender: Any = None, **_: Any) -> None:
    """An orchestrator worker also ends runs whose orchestrator died (drills.web.liveness),
    and exits if it goes deaf after a broker restart (injector.watchdog)."""
    from django.conf import settings

    if settings.DRILLHALL_REAPER:
        from drills.web.liveness import run_reaper_thread

        run_reaper_thread()
    if sender is not None and getattr(sender, "hostname", None):
        import redis

        from drillhall.celery import app
        from injector.watchdog import watch

        broker = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)

        def broker_answers() -> bool:
            try:
                return bool(broker.ping())
            except redis.RedisError:
                return False

        watch(app, sender.hostname, broker_answers)
