"""Run pages: start a run, watch it, abort it, and read its events as JSON."""

from __future__ import annotations

import time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from drills.engine.plan import Plan
from drills.engine.states import TERMINAL
from drills.playbook.redaction import redact_data
from drills.web.access import requires
from drills.web.audit import Origin
from drills.web.models import DrillRun
from drills.web.roles import Action
from drills.web.run_control import abort_run, resume_run, start_run
from drills.web.views.outline import outline
from drills.web.views.playbook_pages import accessible_playbook

# The JSON fallback pages through long runs instead of answering with all of them.
EVENTS_PAGE_MAX = 2000


def canary_probes(content: str, filename: str) -> list[str]:
    """The canary probes' names: the live RPO counter counts their writes, failed ones too."""
    from drills.playbook.model.probes import CanaryProbe
    from drills.playbook.parser import parse_playbook

    try:
        parsed = parse_playbook(content, filename)
    except Exception:  # the outline already shows why; the page renders without the list
        return []
    return [p.name for p in parsed.probes if isinstance(p, CanaryProbe)]


def accessible_run(request: HttpRequest, run_id: int) -> DrillRun:
    run = get_object_or_404(DrillRun.objects.select_related("version__playbook"), id=run_id)
    if not run.playbook.can_access(request.user):
        raise Http404("No such run")
    return run


@login_required
@require_POST
@requires(Action.RUN)
def playbook_run(request: HttpRequest, name: str) -> HttpResponse:
    playbook = accessible_playbook(request, name)
    version = playbook.latest_version()
    if version is None:
        messages.error(request, "This playbook has no saved version to run.")
        return redirect("playbook-detail", name=playbook.name)
    # A plan that faults protected hosts makes the run wait for another person's approval.
    run = start_run(version, request.user, "web", origin=Origin.of(request))
    return redirect("run-detail", run_id=run.id)


@login_required
@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = accessible_run(request, run_id)
    result = run.result if isinstance(run.result, dict) else {}
    filename = f"{run.playbook.name}.yaml"
    page = outline(run.version.content, filename)
    verdicts = result.get("verdicts") or {}
    slas = [(sla, verdicts.get(sla.name, "pending")) for sla in page.slas]
    plan = Plan.from_dict(redact_data(run.plan)) if run.plan else None
    context = {
        "run": run,
        # The plan stored with the run, not a new one: the inventory may have changed since.
        "plan_rows": plan.rows() if plan else [],
        "blast_radius": plan.blast_radius if plan else None,
        "outline": page,
        "slas": slas,
        "rto": result.get("rto"),
        "rto_objective": result.get("rto_objective"),
        "rpo": result.get("rpo"),
        "canaries": canary_probes(run.version.content, filename),
        # The live RTO counter runs on the server's clock, which stamps the events.
        "server_now": time.time(),
        "terminal_states": sorted(s.value for s in TERMINAL),
    }
    from drills.web.views.approval_pages import approval_context  # it imports this module

    context.update(approval_context(run, request.user))
    return render(request, "drills/run_detail.html", context)


@login_required
@require_POST
@requires(Action.RUN)
def run_abort(request: HttpRequest, run_id: int) -> HttpResponse:
    run = accessible_run(request, run_id)
    if abort_run(run, f"aborted by {request.user}", origin=Origin.of(request)):
        messages.info(request, "Abort requested: every fault is being reverted.")
    elif run.finished:
        messages.info(request, "The run had already finished.")
    else:
        messages.info(request, "An abort was already requested.")
    return redirect("run-detail", run_id=run.id)


@login_required
@require_POST
@requires(Action.RUN)
def run_resume(request: HttpRequest, run_id: int) -> HttpResponse:
    run = accessible_run(request, run_id)
    if resume_run(run, origin=Origin.of(request)):
        messages.info(request, "Resumed: the drill goes on with its next step.")
    else:
        messages.info(request, "The run had already finished.")
    return redirect("run-detail", run_id=run.id)


@login_required
@require_GET
def run_events(request: HttpRequest, run_id: int) -> HttpResponse:
    run = accessible_run(request, run_id)
    try:
        after = int(request.GET.get("after", "0"))
        limit = min(int(request.GET.get("limit", str(EVENTS_PAGE_MAX))), EVENTS_PAGE_MAX)
    except ValueError:
        return HttpResponseBadRequest("after and limit must be integers")
    if after < 0 or limit < 1:
        return HttpResponseBadRequest("after must be >= 0 and limit >= 1")
    page = list(run.events.filter(seq__gt=after).order_by("seq")[: limit + 1])
    return JsonResponse(
        {
            "events": [e.as_message() for e in page[:limit]],
            "state": run.state,
            "more": len(page) > limit,
        }
    )
