"""Runs one drill inside the orchestrator task: load ids, call the engine, store the result.

The task claims the run once (compare-and-set on started_at), holds the run's liveness lease
while the engine drives it (drills/web/liveness.py), and reads the plan stored with the run when
it was created. A redelivered message for a run whose orchestrator died finishes that run's
clean-up (it ends as "orchestrator lost") instead of doing nothing.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import close_old_connections, connection

from drills.engine.plan import Plan
from drills.engine.runner import DrillRunner, RunOptions
from drills.engine.states import RunState
from drills.playbook.errors import PlaybookError
from drills.playbook.parser import parse_playbook
from drills.web.abort_watch import abort_watch
from drills.web.agents import CeleryFaultDriver, RedisEvidenceFeed
from drills.web.approvals import approval_problem
from drills.web.liveness import Reaper, RunLease, end_lost_run
from drills.web.models import DrillRun
from drills.web.run_control import end_run
from drills.web.run_queue import admit_waiting, claim
from drills.web.silencing import silencer_for
from drills.web.stream import RunEventSink

log = logging.getLogger(__name__)


def execute_run(run_key: str) -> str:
    run = DrillRun.objects.select_related("version__playbook").filter(key=run_key).first()
    if run is None:
        log.error("run %s is not in this database (another server's run on this broker?)", run_key)
        return "unknown run"
    # Compare-and-set: only one delivery of this task may start the run, and only when
    # admission lets it (at most DRILLHALL_MAX_RUNS at once, one run per host and port).
    admission = claim(run)
    if not admission.admitted:
        return "queued" if admission.reason else _redelivered(run)
    # The claim was the lease's first beat (drills/web/run_queue.py).
    lease = RunLease(run.id, settings.DRILLHALL_RUN_LEASE_SECONDS).start(beat=False)
    try:
        return _drive(run)
    finally:
        lease.stop()
        _admit_next()
        # The task's thread drops a stale connection; a caller's own transaction (a test's)
        # keeps its connection, which closing would end under it.
        if not connection.in_atomic_block:
            close_old_connections()


def _admit_next() -> None:
    """This run's slot (and its hosts and ports) are free: the runs waiting for them start."""
    try:
        admit_waiting()
    except Exception:  # the reaper hands pending runs over again (drills/web/liveness.py)
        log.exception("could not hand the waiting runs to the orchestrator queue")


def _redelivered(run: DrillRun) -> str:
    run.refresh_from_db()
    if run.finished_at is not None:
        return "finished already"
    if run.state == RunState.AWAITING_APPROVAL:
        # A message that should never have been sent (or a forged one): the approval sends it.
        log.warning("run %s is awaiting approval: not started", run.id)
        return "awaiting approval"
    if not Reaper().lost(run):
        return "driven by another orchestrator"
    # Its orchestrator died with the message unacknowledged: finish the clean-up.
    end_lost_run(run)
    return "ended: orchestrator lost"


def _drive(run: DrillRun) -> str:
    if not run.plan:
        end_run(run, "this run has no stored plan (it was created by an older Drillhall); "
                     "start it again")  # fmt: skip
        return "error"
    # Faults on protected hosts: only with another person's approval of this very version.
    unapproved = approval_problem(run)
    if unapproved:
        end_run(run, f"the run could not start: {unapproved}")
        return "error"
    try:
        playbook = parse_playbook(run.version.content, f"{run.version.playbook.name}.yaml")
    except PlaybookError as exc:
        end_run(run, f"the run could not start: {exc}")
        return "error"
    driver = CeleryFaultDriver.for_run(run, playbook.limits.max_duration)
    missing = driver.missing_keys()
    if missing:
        end_run(run, f"the run could not start: {'; '.join(missing)}")
        return "error"
    run_id = run.id

    asked = False

    def should_abort() -> str | None:
        # Its abort button, or "halt all" (drills.web.halt), which aborts every run in
        # progress and any run that starts: one look for every run of this process.
        nonlocal asked
        first, asked = not asked, True
        return abort_watch().reason(run_id, fresh=first)

    def resume_count() -> int:
        return DrillRun.objects.filter(id=run_id).values_list("resumes", flat=True).first() or 0

    runner = DrillRunner(
        run.key,
        playbook,
        Plan.from_dict(run.plan),
        driver,
        RunEventSink(run.id),
        should_abort=should_abort,
        resume_count=resume_count,
        options=RunOptions(lease_seconds=settings.DRILLHALL_LEASE_SECONDS),
        evidence=RedisEvidenceFeed(settings.REDIS_URL),
        silencer=silencer_for(run),
    )
    return runner.run().state.value
