"""Game-day runs: starting one, moving it on, stopping it, and its combined result.

A game-day run owns its drill runs (``DrillRun.gameday_run``) and never drives a fault itself:
each drill is an ordinary run, handed to the orchestrator like any other. ``advance`` looks at
how the drills stand and does the one next thing drills.gameday.progress names. It is called
when a drill ends (drills.web.stream), when the pause between drills runs out (a task with a
countdown), and on every tick of beat's clock (drills.web.gameday_clock), so a lost message
costs a tick, never a game day. Every look is safe twice: a drill is created under a unique
(game-day run, position) pair, and the run ends by compare-and-set.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from drills.engine.states import RunState
from drills.gameday.document import GameDay as GameDayDocument
from drills.gameday.load import parse_gameday
from drills.gameday.progress import (
    GAMEDAY_TERMINAL,
    Action,
    DrillStatus,
    GameDayState,
    next_step,
)
from drills.playbook.errors import PlaybookError
from drills.web.audit import AuditAction, Origin, record_as
from drills.web.models import DrillRun, GameDay, GameDayRun, GameDayVersion, Playbook, RunEvent

log = logging.getLogger(__name__)


class GameDayRefused(Exception):
    """A game day that cannot start now, with the sentence that says why."""


def document_of(version: GameDayVersion) -> GameDayDocument:
    return parse_gameday(version.content, f"{version.gameday.name}.yaml")


def start_gameday(
    gameday: GameDay,
    user: Any = None,
    source: str = "web",
    *,
    origin: Origin | None = None,
    fire_time: Any = None,
) -> GameDayRun:
    """A new run of the latest version of ``gameday``, handed to the orchestrator's queue."""
    version = gameday.latest_version()
    if version is None:
        raise GameDayRefused(f"game day {gameday.name} has no saved version")
    try:
        document = document_of(version)
    except PlaybookError as exc:
        raise GameDayRefused(
            f"game day {gameday.name} v{version.number} is invalid: {exc}"
        ) from None
    with transaction.atomic():
        # Forbid (the default, with or without a schedule) holds for a start by hand too: two
        # runs of one game day would fault the same targets at once.
        allow = document.schedule is not None and document.schedule.concurrency.value == "allow"
        still = (
            GameDay.objects.select_for_update().filter(id=gameday.id).exists()
            and GameDayRun.objects.filter(gameday=gameday)
            .exclude(state__in=[s.value for s in GAMEDAY_TERMINAL])
            .order_by("id")
            .first()
        )
        if still and not allow:
            raise GameDayRefused(
                f"run {still.id} of game day {gameday.name} still runs, and its concurrency is "
                "forbid: stop it or wait for it to end"
            )
        run = GameDayRun.objects.create(
            gameday=gameday,
            version=version,
            source=source,
            started_by=user if getattr(user, "pk", None) else None,
            fire_time=fire_time,
            state=GameDayState.RUNNING,
        )
        who = origin or Origin(user, "")
        record_as(
            AuditAction.GAMEDAY_START,
            who,
            object_type="gameday_run",
            object_id=run.id,
            summary=f"started game day {gameday.name} v{version.number} (run {run.id}, "
            f"{_source_phrase(source)})",
            content=version.content,
        )
        notify(run, "gameday_started")
        transaction.on_commit(lambda: request_advance(run.id))
    return run


def stop_gameday(run: GameDayRun, reason: str, *, origin: Origin | None = None) -> bool:
    """Ask a game-day run to stop: the drill that runs is aborted (its faults reverted), no
    other drill starts, and it ends as aborted. Only the first request counts."""
    with transaction.atomic():
        asked = (
            GameDayRun.objects.filter(id=run.id, stop_requested_at__isnull=True)
            .exclude(state__in=[s.value for s in GAMEDAY_TERMINAL])
            .update(stop_requested_at=timezone.now(), stop_reason=reason[:200])
        )
        if not asked:
            return False
        record_as(
            AuditAction.GAMEDAY_STOP,
            origin or Origin(None, ""),
            object_type="gameday_run",
            object_id=run.id,
            summary=f"stopped game day run {run.id} of {run.gameday.name}: {reason}",
            content=reason,
        )
        transaction.on_commit(lambda: request_advance(run.id))
    return True


def request_advance(run_id: int, countdown: float | None = None) -> None:
    """Ask the orchestrator to look at a game-day run (now, or after ``countdown`` seconds).
    A broker that does not take it costs nothing: beat's clock looks at every open run."""
    from django.conf import settings

    from drills.web.tasks import advance_gameday

    try:
        advance_gameday.apply_async(
            args=[run_id],
            countdown=countdown,
            queue=settings.DRILLHALL_ORCHESTRATOR_QUEUE,
            retry=False,
        )
    except Exception:
        log.warning("could not hand game-day run %s to the orchestrator", run_id, exc_info=True)


def drill_statuses(run: GameDayRun, document: GameDayDocument) -> list[DrillStatus]:
    runs = {
        r.gameday_position: r
        for r in DrillRun.objects.filter(gameday_run=run).select_related("version__playbook")
    }
    statuses = []
    for position, entry in enumerate(document.drills):
        drill = runs.get(position)
        if drill is None:
            statuses.append(DrillStatus(position, entry.playbook))
            continue
        reason = str((drill.result or {}).get("reason") or "") if drill.finished else ""
        statuses.append(
            DrillStatus(position, entry.playbook, drill.state, drill.finished_at, reason)
        )
    return statuses


def advance(run_id: int) -> str:
    """Look at a game-day run once and do the next thing; says what it did."""
    run = GameDayRun.objects.select_related("gameday", "version").filter(id=run_id).first()
    if run is None or run.finished:
        return "nothing to do"
    document = document_of(run.version)
    stop = run.stop_reason or ("stop requested" if run.stop_requested_at else None)
    if stop is None:
        from drills.web.halt import abort_reason

        stop = abort_reason()  # "halt all" stops game days as it stops runs
    step = next_step(document.policy, drill_statuses(run, document), timezone.now(), stop)
    if step.action is Action.WATCH:
        return f"watching drill {step.position}"
    if step.action is Action.WAIT:
        assert step.until is not None
        wait = max(0.0, (step.until - timezone.now()).total_seconds())
        request_advance(run.id, countdown=wait + 0.05)
        return f"waiting {wait:.1f} s before drill {step.position}"
    if step.action is Action.STOP_DRILL:
        from drills.web.run_control import abort_run

        drill = DrillRun.objects.get(gameday_run=run, gameday_position=step.position)
        abort_run(drill, f"its game day was stopped: {step.reason}"[:200], origin=_SYSTEM)
        return f"stopping drill {step.position}"
    if step.action is Action.START:
        assert step.position is not None
        return _start_drill(run, document, step.position)
    assert step.state is not None
    return _finish(run, document, step.state, step.reason)


_SYSTEM = Origin("system", "system")


def _start_drill(run: GameDayRun, document: GameDayDocument, position: int) -> str:
    from drills.web.run_control import create_run, end_run, enqueue_run

    entry = document.drills[position]
    playbook = Playbook.objects.filter(name=entry.playbook).first()
    version = None
    if playbook is not None:
        versions = playbook.versions.all()
        if entry.version == "latest":
            version = versions.order_by("-number").first()
        else:
            version = versions.filter(number=entry.version).first()
    user = run.started_by
    if version is None:
        missing = (
            f"playbook {entry.playbook} does not exist"
            if playbook is None
            else f"playbook {entry.playbook} has no version {entry.version}"
        )
        return _finish(
            run,
            document,
            GameDayState.ERROR,
            f"drill {position + 1} could not start: {missing}",
        )
    try:
        with transaction.atomic():
            # The drill's row is claimed under the unique (run, position) pair first.
            drill = create_run(version, user, source="gameday", origin=_origin(run))
            claimed = DrillRun.objects.filter(id=drill.id).update(
                gameday_run=run, gameday_position=position
            )
    except IntegrityError:
        return f"drill {position} was started by another look"
    if not claimed:
        return "drill vanished"
    drill.refresh_from_db()
    if drill.state == RunState.PENDING:
        enqueue_run(drill)
    elif drill.finished:
        request_advance(run.id)  # it ended at once (a halt, a refused plan): look again
    elif drill.state != RunState.AWAITING_APPROVAL:
        end_run(drill, "the drill could not be handed to an orchestrator")
    return f"started drill {position} as run {drill.id}"


def _origin(run: GameDayRun) -> Origin:
    if run.started_by is not None:
        return Origin(run.started_by, f"game day run {run.id}")
    return Origin("system", f"game day run {run.id}")


def _finish(run: GameDayRun, document: GameDayDocument, state: GameDayState, reason: str) -> str:
    result = combined_result(run, document, state, reason)
    with transaction.atomic():
        ended = (
            GameDayRun.objects.filter(id=run.id)
            .exclude(state__in=[s.value for s in GAMEDAY_TERMINAL])
            .update(state=state, result=result, reason=reason, finished_at=timezone.now())
        )
        if ended:
            notify(run, "gameday_finished", result=result)
    if ended:
        publish_gameday(run.id)
    return f"finished as {state.value}: {reason}"


def combined_result(
    run: GameDayRun, document: GameDayDocument, state: GameDayState, reason: str
) -> dict[str, Any]:
    """Each drill's verdict, RTO and RPO against objectives, and the first breach."""
    drills = []
    first_breach: dict[str, Any] | None = None
    runs = {
        r.gameday_position: r
        for r in DrillRun.objects.filter(gameday_run=run).select_related("version__playbook")
    }
    for position, entry in enumerate(document.drills):
        drill = runs.get(position)
        if drill is None:
            drills.append({"position": position + 1, "playbook": entry.playbook, "state": None})
            continue
        result = drill.result or {}
        breach = _first_breach(drill)
        if breach is not None and first_breach is None:
            first_breach = {"position": position + 1, "playbook": entry.playbook, **breach}
        drills.append(
            {
                "position": position + 1,
                "playbook": entry.playbook,
                "version": drill.version.number,
                "run": drill.id,
                "state": drill.state,
                "reason": result.get("reason", ""),
                "rto": result.get("rto"),
                "rto_objective": result.get("rto_objective"),
                "rpo": result.get("rpo"),
                "first_breach": breach,
            }
        )
    return {
        "state": state.value,
        "reason": reason,
        "drills": drills,
        "first_breach": first_breach,
    }


def _first_breach(drill: DrillRun) -> dict[str, Any] | None:
    from drills.web.notify import counts_as_breach

    for event in RunEvent.objects.filter(run=drill, type="verdict").order_by("seq"):
        if counts_as_breach(event.data):
            return {
                "sla": event.data.get("sla", ""),
                "reason": event.data.get("reason", ""),
                "t": event.t,
            }
    return None


def notify(run: GameDayRun, event: str, **data: Any) -> None:
    """Put the game day's notifications for ``event`` in the outbox, in the caller's
    transaction (drills.web.notify)."""
    from drills.web.notify import queue_gameday_event

    queue_gameday_event(run, event, data)


def publish_gameday(run_id: int) -> None:
    """Tell the game-day run's live page to look again (it reads the rows, not a stream)."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    run = GameDayRun.objects.filter(id=run_id).first()
    layer = get_channel_layer()
    if run is None or layer is None:
        return
    try:
        async_to_sync(layer.group_send)(run.group_name, {"type": "gameday.changed"})
    except Exception:
        log.warning("could not publish game-day run %s", run_id, exc_info=True)


def drill_ended(drill_run_id: int) -> None:
    """Called once a drill's result is stored: its game day moves on."""
    row = DrillRun.objects.filter(id=drill_run_id).values_list("gameday_run_id", flat=True).first()
    if row:
        publish_gameday(row)
        request_advance(row)


def _source_phrase(source: str) -> str:
    return {
        "schedule": "by its schedule",
        "cli": "from the command line",
        "web": "from its page",
        "api": "through the API",
    }.get(source, f"from {source}")
