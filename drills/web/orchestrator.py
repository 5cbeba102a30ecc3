"""Runs one drill inside the orchestrator task: load ids, call the engine, store the result."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from drills.engine.events import EventType
from drills.engine.outcome import RunOutcome
from drills.engine.plan import PlanError, resolve_plan
from drills.engine.runner import DrillRunner, RunOptions
from drills.engine.states import RunState
from drills.playbook.errors import PlaybookError
from drills.playbook.parser import parse_playbook
from drills.web.agents import CeleryFaultDriver, RedisEvidenceFeed
from drills.web.hosts import inventory_snapshot
from drills.web.models import DrillRun
from drills.web.stream import RunEventSink

log = logging.getLogger(__name__)


def execute_run(run_key: str) -> str:
    # Compare-and-set: only one delivery of this task may start the run; a redelivered
    # message for a run already under way (or gone) does nothing.
    claimed = DrillRun.objects.filter(
        key=run_key, state=RunState.PENDING, started_at__isnull=True
    ).update(started_at=timezone.now())
    if not claimed:
        return "skipped"
    run = DrillRun.objects.select_related("version__playbook").get(key=run_key)
    run_id = run.id
    sink = _StateRecordingSink(run_id)
    try:
        playbook = parse_playbook(run.version.content, f"{run.version.playbook.name}.yaml")
        plan = resolve_plan(
            playbook, inventory_snapshot(), approved_protected=run.approved_protected
        )
    except (PlaybookError, PlanError) as exc:
        sink.emit(EventType.ERROR, {"message": str(exc)}, timezone.now().timestamp())
        sink.emit(
            EventType.STATE,
            {"state": RunState.ERROR.value, "previous": RunState.PENDING.value},
            timezone.now().timestamp(),
        )
        result = RunOutcome.error(f"the run could not start: {exc}").to_dict()
        sink.emit(EventType.RESULT, result, timezone.now().timestamp())
        DrillRun.objects.filter(id=run_id).update(finished_at=timezone.now(), result=result)
        return "error"

    def should_abort() -> str | None:
        row = (
            DrillRun.objects.filter(id=run_id).values("abort_requested_at", "abort_reason").first()
        )
        if row and row["abort_requested_at"] is not None:
            return row["abort_reason"] or "abort requested"
        # "Halt all" (drills.web.halt) aborts every run in progress and any run that starts.
        from drills.web.halt import abort_reason

        return abort_reason()

    def resume_count() -> int:
        return DrillRun.objects.filter(id=run_id).values_list("resumes", flat=True).first() or 0

    runner = DrillRunner(
        run.key,
        playbook,
        plan,
        CeleryFaultDriver(),
        sink,
        should_abort=should_abort,
        resume_count=resume_count,
        options=RunOptions(lease_seconds=settings.DRILLHALL_LEASE_SECONDS),
        evidence=RedisEvidenceFeed(settings.REDIS_URL),
    )
    try:
        outcome = runner.run()
    finally:
        close_old_connections()
    DrillRun.objects.filter(id=run_id).update(finished_at=timezone.now(), result=outcome.to_dict())
    return outcome.state.value


class _StateRecordingSink(RunEventSink):
    """Mirrors state events onto DrillRun.state so lists and pages can filter on it."""

    def emit(self, type, data, t):  # type: ignore[no-untyped-def]
        super().emit(type, data, t)
        if type == EventType.STATE:
            DrillRun.objects.filter(id=self.run_id).update(state=data["state"])
