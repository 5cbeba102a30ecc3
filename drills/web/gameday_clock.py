"""Beat's clock: every few seconds, decide every fire time that has passed since the last look,
start what runs, record what was skipped or missed, and look after what is open.

Beat (django-celery-beat's database scheduler) sends one task, ``drillhall.gameday_tick``, on an
interval; the schedules themselves are the game days' documents, decided here by
drills.gameday.fire_times, which knows time zones, windows, blackouts, missed fire times and
Forbid (beat's own crontab knows none of these, and records nothing when it did not fire).
Each game day's ``checked_until`` moves forward by compare-and-set before anything is decided,
so two ticks at once cannot both decide a fire time; ``FireRecord`` is unique per fire time on
top, so a fire time is never run twice, whatever happens.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from drills.gameday.fire_times import Decision, Outcome, decide
from drills.gameday.progress import GAMEDAY_TERMINAL
from drills.playbook.errors import PlaybookError
from drills.web.models import FireRecord, GameDay, GameDayRun

log = logging.getLogger(__name__)


def on_time() -> dt.timedelta:
    return dt.timedelta(seconds=float(settings.DRILLHALL_GAMEDAY_ON_TIME_SECONDS))


def tick(now: dt.datetime | None = None) -> list[str]:
    """One look at every schedule and every open game-day run; says what it did."""
    now = now or timezone.now()
    said: list[str] = []
    for gameday in GameDay.objects.all().order_by("id"):
        try:
            said.extend(check_schedule(gameday, now))
        except Exception:  # one broken game day must not stop the others' schedules
            log.exception("the schedule of game day %s could not be checked", gameday.name)
    said.extend(look_after_open_runs())
    said.extend(send_waiting_messages(now))
    return said


def check_schedule(gameday: GameDay, now: dt.datetime) -> list[str]:
    from drills.web.gameday_runs import document_of

    version = gameday.latest_version()
    if version is None:
        return []
    try:
        document = document_of(version)
    except PlaybookError:
        return []
    schedule = document.schedule
    if schedule is None:
        return []
    # Never looked at: from when its latest version was saved (fire times before anyone wrote
    # the schedule were never due; one that passed while beat was down since then was missed).
    since = gameday.checked_until or version.created_at
    if now <= since:
        return []
    # Compare-and-set: only the tick that moves the mark decides the fire times behind it.
    if not GameDay.objects.filter(id=gameday.id, checked_until=gameday.checked_until).update(
        checked_until=now
    ):
        return []
    if gameday.paused:
        schedule = schedule.model_copy(update={"paused": True})
    running = (
        GameDayRun.objects.filter(gameday=gameday)
        .exclude(state__in=[s.value for s in GAMEDAY_TERMINAL])
        .exists()
    )
    said = []
    for decision in decide(schedule, since, now, running, on_time()):
        said.append(f"{gameday.name}: {decision}")
        record(gameday, decision)
    return said


def record(gameday: GameDay, decision: Decision) -> FireRecord | None:
    """Store what was done at one fire time (and do it): once per fire time, ever."""
    from drills.web.gameday_runs import GameDayRefused, start_gameday
    from drills.web.notify import queue_schedule_event

    try:
        with transaction.atomic():
            row = FireRecord.objects.create(
                gameday=gameday,
                fire_time=decision.fire_time,
                outcome=decision.outcome.value,
                reason=decision.reason[:300],
            )
            if decision.outcome is not Outcome.RUN:
                queue_schedule_event(gameday, decision)
    except IntegrityError:
        return None  # decided before (a clock that went back, a second beat)
    if decision.outcome is Outcome.RUN:
        try:
            run = start_gameday(
                gameday,
                gameday.owner,
                source="schedule",
                origin=_schedule_origin(gameday),
                fire_time=decision.fire_time,
            )
        except GameDayRefused as exc:
            FireRecord.objects.filter(id=row.id).update(
                outcome=Outcome.SKIPPED.value, reason=f"it could not start: {exc}"[:300]
            )
        else:
            FireRecord.objects.filter(id=row.id).update(run=run)
        trim_history(gameday)
    return row


def _schedule_origin(gameday: GameDay):  # type: ignore[no-untyped-def]
    from drills.web.audit import Origin

    return Origin("system", f"schedule of game day {gameday.name}")


def look_after_open_runs() -> list[str]:
    """Move on every open game-day run (a lost message costs one tick, not a game day)."""
    from drills.web.gameday_runs import advance

    said = []
    open_runs = GameDayRun.objects.exclude(state__in=[s.value for s in GAMEDAY_TERMINAL])
    for run_id in open_runs.values_list("id", flat=True):
        try:
            said.append(f"game day run {run_id}: {advance(run_id)}")
        except Exception:
            log.exception("game day run %s could not be moved on", run_id)
    return said


def send_waiting_messages(now: dt.datetime) -> list[str]:
    from drills.web.notify import due_messages, request_send

    waiting = due_messages(now - dt.timedelta(seconds=5))
    for message_id in waiting:
        request_send(message_id)
    return [f"notification {i}: handed to a sender again" for i in waiting]


def trim_history(gameday: GameDay) -> int:
    """Keep the newest ``history_limit`` ended runs of a scheduled game day; one that has not
    ended is never deleted. Their drill runs stay (records of faults that happened), no longer
    part of a game day."""
    from drills.web.gameday_runs import document_of

    version = gameday.latest_version()
    if version is None:
        return 0
    document = document_of(version)
    limit = document.schedule.history_limit if document.schedule is not None else None
    if not limit:
        return 0
    ended = GameDayRun.objects.filter(
        gameday=gameday, state__in=[s.value for s in GAMEDAY_TERMINAL]
    ).order_by("-id")
    old = list(ended.values_list("id", flat=True)[limit:])
    if not old:
        return 0
    from drills.web.models import DrillRun

    DrillRun.objects.filter(gameday_run_id__in=old).update(gameday_run=None)
    deleted, _ = GameDayRun.objects.filter(id__in=old).delete()
    return deleted
