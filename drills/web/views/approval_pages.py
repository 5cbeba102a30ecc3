"""Approving and declining a run that faults protected hosts (drills/web/approvals.py), and
what the run page shows of its approval."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from drills.engine.states import RunState
from drills.web.access import requires
from drills.web.approvals import (
    ApprovalRefused,
    NotAnApprover,
    approval_deadline,
    approval_of,
    approve_run,
    approver_problem,
    decline_run,
    protected_hosts,
)
from drills.web.models import DrillRun
from drills.web.roles import Action
from drills.web.views.run_pages import accessible_run

MAX_REASON = 160


def approval_context(run: DrillRun, user: Any) -> dict[str, Any]:
    """The run page's approval card: who asked, what, until when, and who may decide."""
    hosts = protected_hosts(run)
    if not hosts:
        return {"approval_hosts": []}
    waiting = run.state == RunState.AWAITING_APPROVAL
    refusal = approver_problem(run, user) if waiting else None
    team = run.playbook.team
    return {
        "approval_hosts": hosts,
        "approval": approval_of(run),
        "awaiting_approval": waiting,
        "approval_deadline": approval_deadline(run),
        "approval_team": team.name if team is not None else "",
        "may_approve": waiting and refusal is None,
        "approval_refusal": refusal,
    }


@login_required
@require_POST
@requires(Action.APPROVE)
def run_approve(request: HttpRequest, run_id: int) -> HttpResponse:
    run = accessible_run(request, run_id)
    try:
        number = int(request.POST.get("version", ""))
    except ValueError:
        number = 0  # refused below with a sentence, like any version the run is not of
    content_hash = str(request.POST.get("content_hash", ""))[:64]
    try:
        approval = approve_run(
            run, request.user, version_number=number, content_hash=content_hash, source=request
        )
    except NotAnApprover as exc:
        raise PermissionDenied(str(exc)) from None
    except ApprovalRefused as exc:
        messages.error(request, f"Not approved: {exc}.")
    else:
        messages.info(
            request,
            f"Approved: {approval.playbook_name} v{approval.version_number} runs now.",
        )
    return redirect("run-detail", run_id=run.id)


@login_required
@require_POST
@requires(Action.APPROVE)
def run_decline(request: HttpRequest, run_id: int) -> HttpResponse:
    run = accessible_run(request, run_id)
    reason = str(request.POST.get("reason", ""))[:MAX_REASON]
    try:
        decline_run(run, request.user, reason, source=request)
    except NotAnApprover as exc:
        raise PermissionDenied(str(exc)) from None
    except ApprovalRefused as exc:
        messages.error(request, f"Not declined: {exc}.")
    else:
        messages.info(request, "Declined: the run has ended without touching any host.")
    return redirect("run-detail", run_id=run.id)
