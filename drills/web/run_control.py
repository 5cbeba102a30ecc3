"""Creating, starting, aborting and resuming runs: the one place the web views and the CLI
go through.

A run is created with its plan resolved there and then, and stored with it; everyone after
(the orchestrator, the CLI, the run page, the report) reads that plan. A run that cannot start
(the inventory refuses the plan, the broker does not take it) still gets its record: it ends
at once as error, with the reason in its stream. A run whose plan faults a protected host
waits for another person's approval before anything hands it over (drills/web/approvals.py).

Starting, aborting and resuming are audited here, once each, by the ``origin`` the caller
passes (who, and from which address; drills.web.audit): a refused abort or resume changed
nothing and writes no entry.
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
from drills.web.audit import AuditAction, Origin, record_as
from drills.web.halt import abort_reason as halt_reason
from drills.web.hosts import inventory_snapshot
from drills.web.models import DrillRun, PlaybookVersion
from drills.web.stream import RunEventSink


def create_run(
    version: PlaybookVersion,
    user: Any = None,
    source: str = "web",
    *,
    origin: Origin | None = None,
) -> DrillRun:
    """A run pinned to ``version`` with its plan stored; not yet handed over. It is pending,
    or awaiting approval when the plan faults a protected host."""
    # No run starts while halted; the database decides, so a Redis that lost its copy of the
    # halt lets nothing through (and the orchestrator asks again as the run starts).
    halted = halt_reason()
    plan, refused = None, ""
    if halted is None:
        try:
            playbook = parse_playbook(version.content, f"{version.playbook.name}.yaml")
            plan = resolve_plan(playbook, inventory_snapshot())
        except (PlaybookError, PlanError) as exc:
            refused = f"the plan was refused: {exc}"
    # The plan, resolved first, goes in with the row: no run is ever seen pending without
    # its plan.
    ready = plan is not None and not plan.protected
    run = DrillRun.objects.create(
        version=version, started_by=user, source=source, plan=plan.to_dict() if ready else None
    )
    if halted is not None:
        refuse_run(run, halted)
    elif plan is None:
        end_run(run, refused)
    elif plan.protected and user is None:
        # "Another person" needs a first person: an approval could come from anyone.
        end_run(
            run,
            f"the plan faults {protected_phrase(plan.protected)}, so the run needs an "
            "approval by someone other than the person who starts it, and nobody is "
            "recorded as starting it; start it as a named user "
            "(drillhall run --as USERNAME)",
        )
    elif plan.protected:
        request_approval(run, plan.to_dict())
    run.refresh_from_db()
    # Hashed: the playbook text that runs, so the entry's hash is the version's content_hash.
    _record(
        AuditAction.RUN_START,
        run,
        origin or Origin(user, ""),
        _start_summary(run),
        run.version.content,
    )
    return run


def prepare_to_enqueue() -> None:
    """Do once per process, before a run exists, what handing one over needs: Celery binds
    every task of the app on the first use of one, and connects to the broker on the first
    message. A long-running server did that long ago; a CLI process did it inside its first
    run's queue time. Raises when the broker cannot be reached."""
    from drills.web.tasks import run_drill

    app = run_drill.app
    app.finalize(auto=True)
    # The first hand-over also loaded the broker's transport, made the result backend,
    # connected a producer and declared the queue (65 ms in a fresh process, against 1.5 ms
    # for the next one).
    app.backend  # noqa: B018 (made on first use)
    app.amqp.send_task_message  # noqa: B018
    queue = app.amqp.queues[settings.DRILLHALL_ORCHESTRATOR_QUEUE]
    with app.producer_or_acquire() as producer:
        producer.maybe_declare(queue)


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


def start_run(
    version: PlaybookVersion,
    user: Any = None,
    source: str = "web",
    *,
    origin: Origin | None = None,
) -> DrillRun:
    """Create a run (its plan resolved and stored) and hand it to the orchestrator queue, unless
    it waits for an approval (the approval hands it over)."""
    run = create_run(version, user, source, origin=origin)
    return enqueue_run(run) if run.state == RunState.PENDING else run


def refuse_run(run: DrillRun, reason: str) -> bool:
    """End a run that must not start, as aborted with ``reason``; nothing was sent anywhere."""
    current = DrillRun.objects.get(id=run.id)
    outcome = RunOutcome(RunState.ABORTED, {}, None, rto_objective(current), reason)
    return RunEventSink(run.id).refuse(outcome, timezone.now().timestamp(), RunState(current.state))


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


def abort_run(run: DrillRun, reason: str, *, origin: Origin | None = None) -> bool:
    """Ask the orchestrator to abort; it reverts every fault within one tick. A run still
    awaiting approval has no orchestrator yet: it ends at once."""
    if cancel_waiting_run(run, reason):
        summary = f"cancelled {_name(run)} while it waited for approval: {reason}"
    elif run.request_abort(reason):
        summary = f"aborted {_name(run)}: {reason}"
    else:
        return False
    _record(AuditAction.RUN_ABORT, run, origin or Origin(None, ""), summary, reason)
    return True


def resume_run(run: DrillRun, *, origin: Origin | None = None) -> bool:
    """Let a run waiting at a `pause` step go on (the engine watches the counter)."""
    updated = (
        DrillRun.objects.filter(id=run.id)
        .exclude(state__in=[s.value for s in TERMINAL])
        .update(resumes=F("resumes") + 1)
    )
    if updated != 1:
        return False
    resumes = DrillRun.objects.values_list("resumes", flat=True).get(id=run.id)
    _record(
        AuditAction.RUN_RESUME,
        run,
        origin or Origin(None, ""),
        f"resumed {_name(run)} (resume {resumes})",
        f"resume {resumes} of run {run.key}",
    )
    return True


def _name(run: DrillRun) -> str:
    return f"run {run.id} of {run.version.playbook.name} v{run.version.number}"


def _start_summary(run: DrillRun) -> str:
    summary = f"started {_name(run)}"
    if run.finished_at is not None:
        reason = (run.result or {}).get("reason") if isinstance(run.result, dict) else None
        summary += f"; it ended at once: {reason or run.state}"
    return summary


def _record(action: AuditAction, run: DrillRun, origin: Origin, summary: str, content: str) -> None:
    record_as(action, origin, object_type="run", object_id=run.id, summary=summary, content=content)
