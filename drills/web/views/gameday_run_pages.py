"""A game-day run's pages: the live page, the fragment of its state the page refetches when the
run's socket says it changed, Stop, and what people write down (observations per drill,
action items for the day)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from drills.web.access import NotAllowed, refusal, requires, visible_gameday_run
from drills.web.audit import Origin
from drills.web.gameday_runs import publish_gameday, stop_gameday
from drills.web.models import ActionItem, GameDayRun, Observation
from drills.web.models.gamedays import Verdict
from drills.web.observations import (
    NotRecorded,
    Seen,
    add_action_item,
    may_record,
    possible_owners,
    record_observation,
    set_done,
)
from drills.web.roles import Action
from drills.web.views.gameday_run_state import RunView, run_view

RECORDING = "record observations and action items on game days"
# The form's datetime-local fields, read in the page's zone.
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def _state_context(request: HttpRequest, view: RunView) -> dict[str, object]:
    return {
        "view": view,
        "run": view.run,
        "may_record": may_record(request.user, view.run),
    }


@dataclass(frozen=True)
class ObservationForm:
    """One drill's form, filled with what is recorded (times in the page's zone)."""

    number: int
    playbook: str
    started: bool
    verdict: str
    detected: bool
    detected_at: str
    mitigated: bool
    mitigated_at: str
    notes: str


def _local(at: dt.datetime | None, zone: str) -> str:
    return at.astimezone(zoneinfo.ZoneInfo(zone)).strftime(LOCAL_FORMAT) if at else ""


def observation_forms(view: RunView) -> list[ObservationForm]:
    forms = []
    for row in view.drills:
        seen: Observation | None = row.observation
        forms.append(
            ObservationForm(
                number=row.number,
                playbook=row.playbook,
                started=row.drill_run_id is not None,
                verdict=seen.verdict if seen else "",
                detected=bool(seen and seen.detected),
                detected_at=_local(seen.detected_at, view.zone) if seen else "",
                mitigated=bool(seen and seen.mitigated),
                mitigated_at=_local(seen.mitigated_at, view.zone) if seen else "",
                notes=seen.notes if seen else "",
            )
        )
    return forms


@login_required
@require_GET
def gameday_run_detail(request: HttpRequest, gameday_run_id: int) -> HttpResponse:
    run = visible_gameday_run(request, gameday_run_id)
    view = run_view(run)
    context = {
        **_state_context(request, view),
        "started": view.started,
        "forms": observation_forms(view),
        "verdicts": Verdict.choices,
        "owners": possible_owners(run.gameday),
        "ws_path": f"/ws/gamedays/runs/{run.id}/",
        "state_url": reverse("gameday-run-state", args=[run.id]),
    }
    return render(request, "drills/gameday_run.html", context)


@login_required
@require_GET
def gameday_run_state(request: HttpRequest, gameday_run_id: int) -> HttpResponse:
    """The part of the live page that changes, as HTML the page puts in place."""
    run = visible_gameday_run(request, gameday_run_id)
    response = render(
        request, "drills/_gameday_run_state.html", _state_context(request, run_view(run))
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
@requires(Action.RUN)
def gameday_run_stop(request: HttpRequest, gameday_run_id: int) -> HttpResponse:
    run = visible_gameday_run(request, gameday_run_id, Action.RUN)
    reason = f"stopped by {request.user.get_username()} from its page"
    if stop_gameday(run, reason, origin=Origin.of(request)):
        messages.info(request, "Stop requested: the drill that runs is aborted, no other starts.")
    elif run.finished:
        messages.info(request, "The game day had already ended.")
    else:
        messages.info(request, "A stop was already requested.")
    return redirect("gameday-run-detail", gameday_run_id=run.id)


def _recorder(request: HttpRequest, gameday_run_id: int) -> GameDayRun:
    """The run, for someone who may write down what it showed (404 / 403 otherwise)."""
    run = visible_gameday_run(request, gameday_run_id)
    if not may_record(request.user, run):
        raise NotAllowed(_recording_refusal(request, run))
    return run


def _recording_refusal(request: HttpRequest, run: GameDayRun) -> str:
    said = refusal(request.user, Action.RUN, run.gameday, doing=RECORDING)
    return f"{said} The participants its document names may record them too."


def _time(value: str, zone: str) -> dt.datetime | None:
    """A datetime-local field in the page's zone; None when empty; ValueError when not one."""
    if not value.strip():
        return None
    naive = dt.datetime.strptime(value.strip()[:16], LOCAL_FORMAT)
    return naive.replace(tzinfo=zoneinfo.ZoneInfo(zone))


@login_required
@require_POST
@requires(Action.VIEW)
def gameday_observation(request: HttpRequest, gameday_run_id: int) -> HttpResponse:
    run = _recorder(request, gameday_run_id)
    view = run_view(run)
    back = reverse("gameday-run-detail", args=[run.id])
    try:
        number = int(request.POST.get("drill", ""))
        verdict = Verdict(request.POST.get("verdict", ""))
        seen = Seen(
            verdict=verdict,
            detected=request.POST.get("detected") == "yes",
            detected_at=_time(request.POST.get("detected_at", ""), view.zone),
            mitigated=request.POST.get("mitigated") == "yes",
            mitigated_at=_time(request.POST.get("mitigated_at", ""), view.zone),
            notes=request.POST.get("notes", "").replace("\r\n", "\n").strip(),
        )
    except ValueError:
        messages.error(
            request,
            "Not recorded: choose passed, failed or unsure, and write times as the form shows "
            f"them (in {view.zone}).",
        )
        return redirect(back)
    if not 1 <= number <= len(view.drills):
        messages.error(request, f"Not recorded: this game day has no drill {number}.")
        return redirect(back)
    try:
        record_observation(run, number, seen, request.user, Origin.of(request))
    except NotRecorded as refused:
        messages.error(request, f"Not recorded: {refused}")
        return redirect(back)
    publish_gameday(run.id)
    messages.success(request, f"Recorded the observation of drill {number}.")
    return redirect(f"{back}#observe-{number}")


@login_required
@require_POST
@requires(Action.VIEW)
def gameday_action_item(request: HttpRequest, gameday_run_id: int) -> HttpResponse:
    run = _recorder(request, gameday_run_id)
    back = reverse("gameday-run-detail", args=[run.id])
    try:
        owner_id = int(request.POST.get("owner", "") or 0)
    except ValueError:
        owner_id = 0
    try:
        item = add_action_item(
            run, request.POST.get("text", ""), owner_id, request.user, Origin.of(request)
        )
    except NotRecorded as refused:
        messages.error(request, f"Not added: {refused}")
        return redirect(back)
    publish_gameday(run.id)
    messages.success(request, f"Added an action item for {item.owner.get_username()}.")
    return redirect(f"{back}#action-items")


@login_required
@require_POST
@requires(Action.VIEW)
def gameday_action_item_done(
    request: HttpRequest, gameday_run_id: int, item_id: int
) -> HttpResponse:
    """Those who record may tick any item; its owner may tick their own."""
    run = visible_gameday_run(request, gameday_run_id)
    item = get_object_or_404(ActionItem, run=run, id=item_id)
    if item.owner_id != request.user.id and not may_record(request.user, run):
        raise NotAllowed(_recording_refusal(request, run))
    done = request.POST.get("done", "yes") == "yes"
    if set_done(item, done, Origin.of(request)):
        publish_gameday(run.id)
    return redirect(reverse("gameday-run-detail", args=[run.id]) + "#action-items")
