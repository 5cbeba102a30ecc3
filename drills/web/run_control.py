"""Starting and aborting runs: the one place the web views and the CLI go through."""

from __future__ import annotations

from django.utils import timezone

from drills.engine.outcome import RunOutcome
from drills.engine.states import RunState
from drills.web.models import DrillRun, PlaybookVersion


def start_run(
    version: PlaybookVersion,
    user=None,  # type: ignore[no-untyped-def]
    source: str = "web",
    approve_protected: bool = False,
) -> DrillRun:
    """Create a pending run pinned to `version` and hand it to the orchestrator queue."""
    from drills.web.tasks import run_drill

    run = DrillRun.objects.create(
        version=version, started_by=user, source=source, approved_protected=approve_protected
    )
    try:
        run_drill.apply_async(args=[run.key], queue="orchestrator", retry=False)
    except Exception as exc:
        # No broker: the run must not sit in "pending" for ever.
        reason = (
            f"the run could not be handed to an orchestrator: the task broker did not take it "
            f"({exc}); check that Redis is running (`drillhall doctor`)"
        )
        DrillRun.objects.filter(id=run.id, state=RunState.PENDING).update(
            state=RunState.ERROR,
            finished_at=timezone.now(),
            result=RunOutcome.error(reason).to_dict(),
        )
        run.refresh_from_db()
    return run


def abort_run(run: DrillRun, reason: str) -> bool:
    """Ask the orchestrator to abort; it reverts every fault within one tick."""
    return run.request_abort(reason)


def resume_run(run: DrillRun) -> bool:
    """Let a run waiting at a `pause` step go on (the engine watches the counter)."""
    from django.db.models import F

    from drills.engine.states import TERMINAL

    updated = (
        DrillRun.objects.filter(id=run.id)
        .exclude(state__in=[s.value for s in TERMINAL])
        .update(resumes=F("resumes") + 1)
    )
    return updated == 1
