"""Game day pages: the list of what a person may see, one game day (its document in sentences,
the preview of its schedule, what the schedule did, its runs), starting one now, and pausing
or resuming its schedule."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from drills.gameday.describe import (
    FireTimeLine,
    fire_time_line,
    local_time,
    policy_sentences,
    schedule_sentences,
    utc_time,
)
from drills.gameday.document import GameDay as GameDayDocument
from drills.gameday.fire_times import Outcome, next_fire_times
from drills.gameday.load import parse_gameday
from drills.playbook.errors import PlaybookError
from drills.web.access import requires, visible_gameday
from drills.web.audit import Origin
from drills.web.gameday_pause import set_paused
from drills.web.models import FireRecord, GameDay, GameDayRun, Playbook
from drills.web.roles import Action

RECENT_RUNS = 20
RECENT_FIRES = 50
PREVIEW = 5


def read_document(gameday: GameDay) -> tuple[GameDayDocument | None, str]:
    """The latest version's document, or None and the sentence saying why it is not one."""
    version = gameday.latest_version()
    if version is None:
        return None, "no saved version"
    try:
        return parse_gameday(version.content, f"{gameday.name}.yaml"), ""
    except PlaybookError as error:
        return None, str(error)


@dataclass(frozen=True)
class ListRow:
    gameday: GameDay
    goal: str
    next_fire: FireTimeLine | None
    # Why there is no next fire time: not scheduled, paused, none of the next five runs...
    no_fire: str
    last_run_id: int | None
    last_run_state: str | None


def next_fire(
    document: GameDayDocument | None, paused: bool, now: dt.datetime
) -> tuple[FireTimeLine | None, str]:
    """The next fire time that runs, or why there is none."""
    if document is None:
        return None, "not a valid game day"
    schedule = document.schedule
    if schedule is None:
        return None, "not scheduled"
    if paused or schedule.paused:
        return None, "paused"
    coming = next_fire_times(schedule, now, PREVIEW)
    for decision in coming:
        if decision.outcome is Outcome.RUN:
            return fire_time_line(decision, schedule), ""
    if not coming:
        return None, "no fire time ahead"
    return None, f"none of the next {len(coming)} fire times runs"


@login_required
@require_GET
def gameday_list(request: HttpRequest) -> HttpResponse:
    last_run = GameDayRun.objects.filter(gameday=OuterRef("pk")).order_by("-id")
    gamedays = GameDay.visible_to(request.user).annotate(
        last_run_id=Subquery(last_run.values("id")[:1]),
        last_run_state=Subquery(last_run.values("state")[:1]),
    )
    now = timezone.now()
    rows = []
    for gameday in gamedays:
        document, _ = read_document(gameday)
        fire, no_fire = next_fire(document, gameday.paused, now)
        rows.append(
            ListRow(
                gameday=gameday,
                goal=document.metadata.goal if document else "",
                next_fire=fire,
                no_fire=no_fire,
                last_run_id=gameday.last_run_id,  # type: ignore[attr-defined]
                last_run_state=gameday.last_run_state,  # type: ignore[attr-defined]
            )
        )
    return render(request, "drills/gameday_list.html", {"rows": rows})


@dataclass(frozen=True)
class DrillLine:
    number: int  # 1-based, as people count
    playbook: str
    version: str  # "v3" or "latest"
    linked: bool  # the person may open the playbook's page
    warning: str


def drill_lines(document: GameDayDocument, user: object) -> list[DrillLine]:
    """The drills in order, each with a warning when it could not start as written. A
    playbook the person may not see is spoken of as one that may not exist (a page never
    confirms a name the person may not see)."""
    names = {d.playbook for d in document.drills}
    seen = Playbook.visible_to(user).filter(name__in=names).prefetch_related("versions")
    visible = {p.name: p for p in seen}
    lines = []
    for number, entry in enumerate(document.drills, start=1):
        playbook = visible.get(entry.playbook)
        warning = ""
        if playbook is None:
            warning = (
                f"There is no playbook {entry.playbook} that you may see; if none exists, the "
                "game day ends in error when it comes to this drill."
            )
        elif entry.version != "latest":
            numbers = sorted(v.number for v in playbook.versions.all())
            if entry.version not in numbers:
                has = f"v1 to v{numbers[-1]}" if numbers else "no version"
                warning = (
                    f"Playbook {entry.playbook} has no version {entry.version} (it has {has}): "
                    "the game day ends in error when it comes to this drill."
                )
        lines.append(
            DrillLine(
                number=number,
                playbook=entry.playbook,
                version="latest" if entry.version == "latest" else f"v{entry.version}",
                linked=playbook is not None,
                warning=warning,
            )
        )
    return lines


# What the schedule did at a fire time, as the page says it.
OUTCOME_SAID = {Outcome.RUN.value: "ran", Outcome.SKIPPED.value: "skipped", "missed": "missed"}


@dataclass(frozen=True)
class FireRow:
    local: str
    utc: str
    outcome: str
    reason: str
    run_id: int | None


@login_required
@require_GET
def gameday_detail(request: HttpRequest, gameday: str) -> HttpResponse:
    day = visible_gameday(request, gameday)
    version = day.latest_version()
    document, error = read_document(day)
    schedule = document.schedule if document else None
    now = timezone.now()
    preview = (
        [fire_time_line(d, schedule) for d in next_fire_times(schedule, now, PREVIEW)]
        if schedule is not None
        else []
    )
    fires = [
        FireRow(
            local=local_time(f.fire_time, schedule),
            utc=utc_time(f.fire_time),
            outcome=OUTCOME_SAID.get(f.outcome, f.outcome),
            reason=f.reason,
            run_id=f.run_id,
        )
        for f in FireRecord.objects.filter(gameday=day)[:RECENT_FIRES]
    ]
    context = {
        "gameday": day,
        "version": version,
        "document": document,
        "error": error if version is not None else "",
        "drills": drill_lines(document, request.user) if document else [],
        "policy": policy_sentences(document.policy) if document else [],
        "schedule": schedule_sentences(schedule) if schedule else [],
        "preview": preview,
        "paused_in_document": bool(schedule and schedule.paused),
        "fires": fires,
        "runs": GameDayRun.objects.filter(gameday=day).select_related("version", "started_by")[
            :RECENT_RUNS
        ],
    }
    return render(request, "drills/gameday_detail.html", context)


@login_required
@require_POST
@requires(Action.RUN)
def gameday_start(request: HttpRequest, gameday: str) -> HttpResponse:
    from drills.web.gameday_runs import GameDayRefused, start_gameday

    day = visible_gameday(request, gameday, Action.RUN)
    try:
        run = start_gameday(day, request.user, "web", origin=Origin.of(request))
    except GameDayRefused as refused:
        messages.error(request, f"Not started: {refused}.")
        return redirect("gameday-detail", gameday=day.name)
    return redirect("gameday-run-detail", gameday_run_id=run.id)


def _pause(request: HttpRequest, gameday: str, paused: bool) -> HttpResponse:
    day = visible_gameday(request, gameday, Action.RUN)
    if set_paused(day, paused, Origin.of(request)):
        if paused:
            messages.info(request, "Paused: fire times are recorded as skipped until resumed.")
        else:
            messages.info(request, "Resumed: the schedule runs the game day again.")
    else:
        messages.info(request, f"The schedule was already {'paused' if paused else 'running'}.")
    return redirect("gameday-detail", gameday=day.name)


@login_required
@require_POST
@requires(Action.RUN)
def gameday_pause(request: HttpRequest, gameday: str) -> HttpResponse:
    return _pause(request, gameday, True)


@login_required
@require_POST
@requires(Action.RUN)
def gameday_resume(request: HttpRequest, gameday: str) -> HttpResponse:
    return _pause(request, gameday, False)
