"""Approval by another person, pinned to a version: runs that fault protected hosts.

A run whose stored plan faults a protected host (``Plan.protected``) is created
``awaiting_approval`` and nothing hands it to an orchestrator. A person with the approver role
in the playbook's team (``drills.web.roles.can(user, Action.APPROVE, playbook)``) who did not
start the run approves it: one ``Approval`` names the playbook, version number and content
hash they were shown and the hash of the stored plan, the run becomes ``pending`` and goes to
the orchestrator queue. The orchestrator starts it only when that approval names the run's own
version, hash and plan (``approval_problem``), so an approval of v3 never starts a v4 run.

Declining (an approver), cancelling (Abort, while it waits) and waiting longer than
``DRILLHALL_APPROVAL_LIMIT_SECONDS`` (4 h by default: long enough for a colleague to look the
same working day, short enough that the plan resolved at creation still describes the
inventory) end the run as aborted with a sentence. Every decision is a compare-and-set on the
run's state stored with the events that say so: of two approvers clicking at once, one approves
and the other is told it was already decided.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from drills.engine.events import EventType
from drills.engine.outcome import RunOutcome
from drills.engine.states import RunState
from drills.web import audit
from drills.web.models import Approval, DrillRun
from drills.web.roles import Action, can
from drills.web.stream import RunEventSink

AWAITING = RunState.AWAITING_APPROVAL


class Decision(StrEnum):
    """The ``decision`` of an approval event."""

    REQUESTED = "requested"
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ApprovalRefused(Exception):
    """An approval or a decline that may not be given; the message is a sentence for people."""


class NotAnApprover(ApprovalRefused):
    """The person may not decide on this run at all (no approver role, or they started it)."""


def plan_hash(plan: dict[str, Any] | None) -> str:
    """sha256 of the stored plan as canonical JSON: what the approver was shown."""
    data = json.dumps(plan or {}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


def protected_hosts(run: DrillRun) -> list[str]:
    """The protected hosts the run's stored plan faults: non-empty means it needs approval."""
    plan = run.plan if isinstance(run.plan, dict) else {}
    return [str(host) for host in plan.get("protected", [])]


def approval_limit() -> float:
    return float(settings.DRILLHALL_APPROVAL_LIMIT_SECONDS)


def approval_deadline(run: DrillRun) -> datetime:
    """When a run still awaiting approval is ended."""
    return run.created_at + timedelta(seconds=approval_limit())


def approval_of(run: DrillRun) -> Approval | None:
    return Approval.objects.filter(run_id=run.id).first()


def pending_since(run: DrillRun) -> datetime:
    """Since when the run could be taken by an orchestrator: its approval, else its creation."""
    approved = Approval.objects.filter(run_id=run.id).values_list("approved_at", flat=True)
    return approved.first() or run.created_at


def short(digest: str) -> str:
    return digest[:12]


def _team(run: DrillRun) -> str:
    team = run.playbook.team
    return f"team {team.name}" if team is not None else "its team (it has none yet)"


def _starter(run: DrillRun) -> str:
    return run.started_by.get_username() if run.started_by is not None else ""


def protected_phrase(hosts: list[str] | tuple[str, ...]) -> str:
    """ "protected host db1", "protected hosts db1, db2"."""
    return f"protected host{'s' if len(hosts) != 1 else ''} {', '.join(hosts) or 'none'}"


def _version_data(run: DrillRun) -> dict[str, Any]:
    version = run.version
    return {
        "playbook": version.playbook.name,
        "version": version.number,
        "content_hash": version.content_hash,
        "hosts": protected_hosts(run),
    }


# -- asking ----------------------------------------------------------------------------


def request_approval(run: DrillRun, plan: dict[str, Any]) -> bool:
    """Store the plan of a new pending run that faults protected hosts and make it wait for an
    approval, in one transaction: no reaper or orchestrator ever sees it pending."""
    hosts = [str(h) for h in plan.get("protected", [])]
    asker = _starter(run)
    data = {
        "decision": Decision.REQUESTED.value,
        "by": asker,
        **_version_data(run),
        "hosts": hosts,
        "message": (
            f"run {run.id} faults {protected_phrase(hosts)}: "
            f"it starts once an approver of {_team(run)}"
            f"{f' other than {asker}' if asker else ''} approves it"
        ),
    }

    def guard() -> bool:
        return (
            DrillRun.objects.filter(
                id=run.id, state=RunState.PENDING, started_at__isnull=True, finished_at__isnull=True
            ).update(plan=plan, state=AWAITING)
            == 1
        )

    events = [
        (EventType.STATE, {"state": AWAITING.value, "previous": RunState.PENDING.value}),
        (EventType.APPROVAL, data),
    ]
    return RunEventSink(run.id).write_if(guard, events, timezone.now().timestamp())


# -- who may decide ----------------------------------------------------------------------


def approver_problem(run: DrillRun, user: Any, doing: str = "approve") -> str | None:
    """Why ``user`` may not approve (or decline: ``doing``) ``run``, a sentence; or None."""
    if run.started_by_id is not None and run.started_by_id == getattr(user, "id", None):
        return (
            f"you started run {run.id}: another person with the approver role in {_team(run)} "
            f"must {doing} it"
        )
    if not can(user, Action.APPROVE, run.playbook):
        return (
            f"to {doing} runs of {run.playbook.name} you need the approver role in "
            f"{_team(run)}; ask an admin for it, or ask an approver there"
        )
    if run.started_by_id is None:
        return (
            f"nobody is recorded as having started run {run.id}, so no approval can come from "
            "another person; start it again as a named user"
        )
    return None


def _still_waiting(run: DrillRun) -> None:
    run.refresh_from_db()
    if run.state == AWAITING and run.finished_at is None:
        return
    approval = approval_of(run)
    if approval is not None:
        raise ApprovalRefused(
            f"run {run.id} was already approved by {approval.approver_name} at "
            f"{approval.approved_at:%Y-%m-%d %H:%M:%S} UTC"
        )
    raise ApprovalRefused(
        f"run {run.id} is not waiting for an approval: it is {RunState(run.state).label}"
        + (f" ({run.result.get('reason')})" if run.finished and run.result.get("reason") else "")
    )


# -- deciding ------------------------------------------------------------------------------


def approve_run(
    run: DrillRun,
    user: Any,
    *,
    version_number: int,
    content_hash: str,
    source: str | HttpRequest,
) -> Approval:
    """Approve ``run`` as ``user``, who was shown ``version_number`` / ``content_hash``; hand
    it to the orchestrator. Raises ApprovalRefused with the reason."""
    problem = approver_problem(run, user)
    if problem:
        raise NotAnApprover(problem)
    _still_waiting(run)
    version = run.version
    if (version_number, content_hash) != (version.number, version.content_hash):
        raise ApprovalRefused(
            f"you were shown v{version_number} ({short(content_hash) or 'no hash'}) but run "
            f"{run.id} is of {version.playbook.name} v{version.number} "
            f"({short(version.content_hash)}): reload its page and look again"
        )
    now = timezone.now()
    approval = Approval(
        run=run,
        approver=user,
        approver_name=user.get_username(),
        approved_at=now,
        playbook_name=version.playbook.name,
        version_number=version.number,
        content_hash=version.content_hash,
        plan_hash=plan_hash(run.plan),
    )
    hosts = protected_hosts(run)
    summary = (
        f"{approval.approver_name} approved run {run.id} of {approval.playbook_name} "
        f"v{approval.version_number}, which faults {protected_phrase(hosts)}, started by "
        f"{_starter(run)}"
    )

    def guard() -> bool:
        # The compare-and-set: the first approval (or decline) of a waiting run wins.
        won = DrillRun.objects.filter(id=run.id, state=AWAITING, finished_at__isnull=True).update(
            state=RunState.PENDING
        )
        if not won:
            return False
        approval.save()
        # The entry's content hash is the version's: sha256 of the text that was approved.
        audit.record(
            audit.AuditAction.RUN_APPROVE,
            actor=user,
            source=source,
            object_type="run",
            object_id=run.id,
            summary=summary,
            content=version.content,
        )
        return True

    data = {
        "decision": Decision.APPROVED.value,
        "by": approval.approver_name,
        "approved_at": now.isoformat(),
        **_version_data(run),
        "plan_hash": approval.plan_hash,
        "message": f"approved by {approval.approver_name}: {approval.playbook_name} "
        f"v{approval.version_number} ({short(approval.content_hash)})",
    }
    events = [
        (EventType.APPROVAL, data),
        (EventType.STATE, {"state": RunState.PENDING.value, "previous": AWAITING.value}),
    ]
    if not RunEventSink(run.id).write_if(guard, events, now.timestamp()):
        _still_waiting(run)  # says who was first
        raise ApprovalRefused(f"run {run.id} was decided by someone else meanwhile")
    from drills.web.run_control import enqueue_run

    run.refresh_from_db()
    enqueue_run(run)
    return approval


def decline_run(run: DrillRun, user: Any, reason: str, *, source: str | HttpRequest) -> bool:
    """An approver says no: the run ends as aborted with who declined and why."""
    problem = approver_problem(run, user, "decline")
    if problem:
        raise NotAnApprover(problem)
    _still_waiting(run)
    name = user.get_username()
    why = " ".join(reason.split())[:160]
    sentence = f"declined by {name}" + (f": {why}" if why else "")
    summary = f"{name} declined run {run.id} of {run.playbook.name} v{run.version.number}" + (
        f": {why}" if why else ""
    )
    ended = _end_waiting(
        run,
        Decision.DECLINED,
        name,
        sentence,
        lambda: audit.record(
            audit.AuditAction.RUN_APPROVE,
            actor=user,
            source=source,
            object_type="run",
            object_id=run.id,
            summary=summary,
            content=run.version.content,
        ),
    )
    if not ended:
        _still_waiting(run)
        raise ApprovalRefused(f"run {run.id} was decided by someone else meanwhile")
    return True


def cancel_waiting_run(run: DrillRun, reason: str) -> bool:
    """Abort of a run that still waits for its approval: it ends at once (no orchestrator has
    it to abort). False when it was no longer waiting."""
    if not DrillRun.objects.filter(id=run.id, state=AWAITING).exists():
        return False
    sentence = f"cancelled while it waited for approval ({reason})"
    return _end_waiting(run, Decision.CANCELLED, "", sentence)


def expire_run(run: DrillRun, limit: float) -> bool:
    """End a run nobody approved within ``limit`` seconds (the reaper calls this)."""
    sentence = (
        f"nobody approved the run within {_duration(limit)} "
        "(DRILLHALL_APPROVAL_LIMIT_SECONDS); start it again and ask an approver of "
        f"{_team(run)}"
    )
    return _end_waiting(run, Decision.EXPIRED, "", sentence)


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def _end_waiting(
    run: DrillRun,
    decision: Decision,
    by: str,
    sentence: str,
    also: Any = None,
) -> bool:
    """End a waiting run as aborted with ``sentence``: approval event, state and result."""
    from drills.web.run_control import rto_objective

    outcome = RunOutcome(RunState.ABORTED, rto_objective=rto_objective(run), reason=sentence)

    def guard() -> bool:
        won = DrillRun.objects.filter(id=run.id, state=AWAITING, finished_at__isnull=True).update(
            abort_requested_at=timezone.now(), abort_reason=sentence[:200]
        )
        if won and also is not None:
            also()
        return bool(won)

    data = {"decision": decision.value, "by": by, **_version_data(run), "message": sentence}
    events = [
        (EventType.APPROVAL, data),
        (EventType.STATE, {"state": RunState.ABORTED.value, "previous": AWAITING.value}),
        (EventType.RESULT, outcome.to_dict()),
    ]
    return RunEventSink(run.id).write_if(guard, events, timezone.now().timestamp())


# -- starting ------------------------------------------------------------------------------


def approval_problem(run: DrillRun) -> str | None:
    """Why ``run`` may not start for want of a valid approval (a sentence), or None.

    The orchestrator asks this before it drives a run: a run that faults protected hosts
    starts only with an approval by another person that names the run's own playbook,
    version, content hash and stored plan.
    """
    hosts = protected_hosts(run)
    if not hosts:
        return None
    approval = approval_of(run)
    version = run.version
    if approval is None:
        return (
            f"run {run.id} faults {protected_phrase(hosts)} and nobody approved it; "
            "start it again and ask an approver"
        )
    seen = (approval.playbook_name, approval.version_number, approval.content_hash)
    own = (version.playbook.name, version.number, version.content_hash)
    if seen != own:
        return (
            f"the approval by {approval.approver_name} is for {seen[0]} v{seen[1]} "
            f"({short(seen[2])}), but run {run.id} is of {own[0]} v{own[1]} ({short(own[2])}): "
            "a different version needs an approval of its own"
        )
    if approval.plan_hash != plan_hash(run.plan):
        return (
            f"run {run.id}'s stored plan is not the one {approval.approver_name} approved; "
            "start it again and ask for a new approval"
        )
    if approval.approver_id is not None and approval.approver_id == run.started_by_id:
        return f"run {run.id} was approved by the person who started it, which does not count"
    return None
