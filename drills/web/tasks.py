"""Celery tasks: thin shells that take ids and call the engine."""

from __future__ import annotations

import logging
import sys
from typing import Any

from celery import shared_task
from celery.signals import task_received, worker_ready

from injector.protocol import REGISTER_HOST_TASK, Refusal

logger = logging.getLogger(__name__)

RUN_DRILL_TASK = "drillhall.run_drill"
ADVANCE_GAMEDAY_TASK = "drillhall.advance_gameday"
SEND_NOTIFICATION_TASK = "drillhall.send_notification"
GAMEDAY_TICK_TASK = "drillhall.gameday_tick"


@shared_task(name=RUN_DRILL_TASK, acks_late=True)
def run_drill(run_key: str) -> str:
    from drills.web.orchestrator import execute_run

    return execute_run(run_key)


@shared_task(name=ADVANCE_GAMEDAY_TASK, acks_late=True, ignore_result=True)
def advance_gameday(gameday_run_id: int) -> str:
    """Look at a game-day run once and do its next thing (drills.web.gameday_runs)."""
    from drills.web.gameday_runs import advance

    return advance(int(gameday_run_id))


@shared_task(name=GAMEDAY_TICK_TASK, acks_late=True, ignore_result=True)
def gameday_tick() -> int:
    """Beat's clock (drills.web.gameday_clock): every schedule, every open game-day run."""
    from drills.web.gameday_clock import tick

    said = tick()
    for line in said:
        logger.info("game-day clock: %s", line)
    return len(said)


@shared_task(
    name=SEND_NOTIFICATION_TASK, bind=True, acks_late=True, ignore_result=True, max_retries=None
)
def send_notification(self: Any, message_id: int) -> None:
    """Send one outbox message; a failed send comes back after an exponential backoff
    (drills.web.notify decides how long, and when to give up)."""
    from drills.web.notify import send_message

    wait = send_message(int(message_id))
    if wait is not None:
        raise self.retry(countdown=wait)


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
def _shorten_switch_interval(**_: Any) -> None:
    """An orchestrator worker hands the GIL over sooner than Python's default: its writer and
    publisher threads wait for it after every database or Redis call (drillhall/settings.py)."""
    from django.conf import settings

    sys.setswitchinterval(settings.DRILLHALL_ORCHESTRATOR_SWITCH_INTERVAL_US / 1_000_000)


@worker_ready.connect
def _freeze_the_startup_heap(**_: Any) -> None:
    """An orchestrator worker leaves what it loaded at start out of Python's full garbage
    collections. Each full collection holds the GIL while it walks every object the process
    has, and the modules, Django and Celery are most of them and never garbage: with a hundred
    drills at once, one took 140-220 ms, and every run's events waited behind it
    (docs/performance.md, "Many drills at once"). What a run imports is loaded first, so that
    it is frozen with the rest."""
    import gc

    import drills.web.orchestrator  # noqa: F401

    gc.collect()
    gc.freeze()


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
        from injector.watchdog import TasksTaken, watch

        broker = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)

        def broker_answers() -> bool:
            try:
                return bool(broker.ping())
            except redis.RedisError:
                return False

        taken = TasksTaken()
        task_received.connect(taken.count, weak=False)
        watch(app, sender.hostname, broker_answers, progress=taken)
