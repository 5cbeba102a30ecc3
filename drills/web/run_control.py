"""Creating, starting, aborting and resuming runs: the one place the web views and the CLI
go through.

A run is created with its plan resolved there and then, and stored with it; everyone after
(the orchestrator, the CLI, the run page, the report) reads that plan. A run that cannot start
(the inventory refuses the plan, the broker does not take it) still gets its record: it ends
at once as error, with the reason in its stream. A run whose plan faults a protected host
waits for another person's approval before anything hands it over (drills/web/approvals.py).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from drills.engine.outcome import RunOutcome
from drills.engine.plan import PlanError, resolve_plan
from drills.engine.states import TERMINAL, RunState
from drills.playbook.errors import PlaybookError
from drills.playbook.parser import parse_playbook
from drills.web.approvals import cancel_waiting_run, protected_phrase, request_approval
from drills.web.hosts import inventory_snapshot
from drills.web.models import DrillRun, PlaybookVersion
from drills.web.stream import RunEventSink


def create_run(version: PlaybookVersion, user: Any = None, source: str = "web") -> DrillRun:
    """A run pinned to ``version`` with its plan stored; not yet handed over. It is pending,
    or awaiting approval when the plan faults a protected host."""
    run = DrillRun.objects.create(version=version, started_by=user, source=source)
    try:
        playbook = parse_playbook(version.content, f"{version.playbook.name}.yaml")
        plan = resolve_plan(playbook, inventory_snapshot())
    except (PlaybookError, PlanError) as exc:
        end_run(run, f"the plan was refused: {exc}")
    else:
        if plan.protected and user is None:
            # "Another person" needs a first person: an approval could come from anyone.
            end_run(
                run,
                f"the plan faults {protected_phrase(plan.protected)}, so the run needs an "
                "approval by someone other than the person who starts it, and nobody is "
                "recorded as starting it; start it as a named user (drillhall run --as USERNAME)",
            )
        elif plan.protected:
            request_approval(run, plan.to_dict())
        else:
            DrillRun.objects.filter(id=run.id).update(plan=plan.to_dict())
    run.refresh_from_db()
    return run


def enqueue_run(run: DrillRun) -> DrillRun:
    """Hand a pending run to the orchestrator queue (again: the task only ever claims it once)."""
    from drills.web.tasks import run_drill

    # Compare-and-set on the row, not the copy in hand: a run awaiting approval (or taken
    # meanwhile) is never handed over.
    handed = DrillRun.objects.filter(
        id=run.id, state=RunState.PENDING, started_at__isnull=True, finished_at__isnull=True
    ).update(enqueued_at=timezone.now())
    if not handed:
        run.refresh_from_db()
        return run
    try:
        run_drill.apply_async(
            args=[run.key], queue=settings.DRILLHALL_ORCHESTRATOR_QUEUE, retry=False
        )
    except Exception as exc:
        # No broker: the run must not sit in "pending" for ever.
        end_run(
            run,
            "the run could not be handed to an orchestrator: the task broker did not take it "
            f"({exc}); check that Redis is running (`drillhall doctor`)",
        )
    run.refresh_from_db()
    return run


def start_run(version: PlaybookVersion, user: Any = None, source: str = "web") -> DrillRun:
    """Create a run (its plan resolved and stored) and hand it to the orchestrator queue, unless
    it waits for an approval (the approval hands it over)."""
    run = create_run(version, user, source)
    return enqueue_run(run) if run.state == RunState.PENDING else run


def end_run(run: DrillRun, reason: str) -> bool:
    """End an open run as error with ``reason`` (a sentence): error event, state, result."""
    current = DrillRun.objects.get(id=run.id)
    outcome = RunOutcome.error(reason, rto_objective(current))
    return RunEventSink(run.id).end(
        outcome, reason, timezone.now().timestamp(), RunState(current.state)
    )


def rto_objective(run: DrillRun) -> float | None:
    try:
        playbook = parse_playbook(run.version.content, f"{run.version.playbook.name}.yaml")
    except PlaybookError:
        return None
    return playbook.objectives.rto


def abort_run(run: DrillRun, reason: str) -> bool:
    """Ask the orchestrator to abort; it reverts every fault within one tick. A run still
    awaiting approval has no orchestrator yet: it ends at once."""
    if cancel_waiting_run(run, reason):
        return True
    return run.request_abort(reason)


def resume_run(run: DrillRun) -> bool:
    """Let a run waiting at a `pause` step go on (the engine watches the counter)."""
    updated = (
        DrillRun.objects.filter(id=run.id)
        .exclude(state__in=[s.value for s in TERMINAL])
        .update(resumes=F("resumes") + 1)
    )
    return updated == 1
