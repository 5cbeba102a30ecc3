"""Playbook pages: the list of what a user may see, and one playbook with its latest YAML."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Max, OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from drills.web.access import visible_playbook
from drills.web.models import DrillRun, Playbook
from drills.web.roles import Action, can
from drills.web.views.outline import outline

RECENT_RUNS = 20


def accessible_playbook(request: HttpRequest, name: str) -> Playbook:
    """The playbook, or 404 for people with no role in its team (a 403 would confirm that it
    exists). What they may do with it is checked by each view (drills.web.access.requires)."""
    return visible_playbook(request, name)


@login_required
@require_GET
def playbook_list(request: HttpRequest) -> HttpResponse:
    last_run = DrillRun.objects.filter(version__playbook=OuterRef("pk")).order_by("-id")
    playbooks = Playbook.visible_to(request.user).annotate(
        latest_number=Max("versions__number"),
        last_run_id=Subquery(last_run.values("id")[:1]),
        last_run_state=Subquery(last_run.values("state")[:1]),
    )
    return render(request, "drills/playbook_list.html", {"playbooks": playbooks})


@login_required
@require_GET
def playbook_detail(request: HttpRequest, name: str) -> HttpResponse:
    playbook = accessible_playbook(request, name)
    version = playbook.latest_version()
    runs = DrillRun.objects.filter(version__playbook=playbook).select_related(
        "version", "started_by"
    )[:RECENT_RUNS]
    context = {
        "playbook": playbook,
        "version": version,
        "outline": outline(version.content, f"{playbook.name}.yaml") if version else None,
        "runs": runs,
        # Whether a target is protected is inventory: told only to those who may run it.
        "protected_hosts": protected_hosts_of(version.content)
        if version is not None and can(request.user, Action.RUN, playbook)
        else [],
    }
    return render(request, "drills/playbook_detail.html", context)


def protected_hosts_of(content: str) -> list[str]:
    """The protected hosts a run of ``content`` would fault today: it would wait for approval."""
    from drills.engine.plan import PlanError, resolve_plan
    from drills.playbook.errors import PlaybookError
    from drills.playbook.parser import parse_playbook
    from drills.web.hosts import inventory_snapshot

    try:
        return list(resolve_plan(parse_playbook(content), inventory_snapshot()).protected)
    except (PlaybookError, PlanError):
        return []
