"""No run left open: an orchestrator's liveness lease per run, and the reaper that ends a run
whose orchestrator is gone.

While an orchestrator drives a run it beats for it (``RunLease``: the run's ``heartbeat_at``,
from a thread of its own, so a run loop busy waiting for an agent does not look dead). When the
process dies the beats stop. Every long-lived Drillhall process with the database (orchestrator
workers, the web server, ``drillhall run`` for its own run) runs ``Reaper.sweep`` now and then:
a started run whose heartbeat is older than a lease is ended as **error**, "orchestrator lost during
<state>", after asking its agents whether its faults are reverted (their own leases have
reverted them by then; the reaper asks rather than assumes, and says what each agent answered).
The end is written only while the run is still open, so reapers racing each other, or a slow
orchestrator, end it once.

A pending run no orchestrator took (its message lost with a broker restart) is handed to the
queue again after a while, and ended as error when nobody takes it for much longer. A run
awaiting approval is never handed over; it is ended once it waited longer than the approval
limit (drills/web/approvals.py).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import redis
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.db.models.functions import Now
from django.utils import timezone

from drills.engine.driver import AgentRefused, AgentUnavailable, FaultDriver
from drills.engine.events import EventType
from drills.engine.outcome import RunOutcome
from drills.engine.plan import Plan
from drills.engine.states import RunState
from drills.web.group_commit import committed, deferred_to_the_batch
from drills.web.models import DrillRun
from drills.web.stream import RunEventSink
from injector.protocol import FaultState, fault_id

log = logging.getLogger(__name__)

# How long the reaper waits for each agent's answer about a lost run's faults.
AGENT_TIMEOUT_S = 5.0


class RunLease:
    """The orchestrator's claim on a run: the run's ``heartbeat_at``, set to the database's
    own clock every third of a lease by a thread of its own until stopped.

    In the database rather than in Redis: every process that can end a run reads the same
    clock, whichever broker or host it is on, and a broker restart does not look like death.
    """

    def __init__(self, run_id: int, seconds: float) -> None:
        self.run_id = run_id
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, beat: bool = True) -> RunLease:
        """Beat now (unless ``beat`` is False: the claim just did), then every third of a
        lease."""
        if beat:
            self._renew()
        self._thread = threading.Thread(
            target=self._loop, name=f"lease-run-{self.run_id}", daemon=True
        )
        self._thread.start()
        return self

    def _renew(self) -> None:
        try:
            # Through the process's writer, with its runs' events: a hundred lease threads
            # each taking SQLite's lock kept the runs' own writes waiting.
            committed(lambda: _beat(self.run_id))
        except DatabaseError as exc:  # a busy database: the next beat comes a third later
            log.warning("could not renew the lease of run %s: %s", self.run_id, exc)

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.seconds / 3):
                self._renew()
        finally:
            connection.close()  # this thread's own connection

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _beat(run_id: int) -> None:
    # In the writer's batch, every run's beat is one UPDATE: a statement fewer for each run
    # whose lease came due, each a wait for the GIL behind the runs' threads.
    if not deferred_to_the_batch(_beat_together, run_id):
        DrillRun.objects.filter(id=run_id).update(heartbeat_at=Now())


def _beat_together(run_ids: list[int]) -> None:
    DrillRun.objects.filter(id__in=run_ids).update(heartbeat_at=Now())


def lease_alive(run: DrillRun, seconds: float | None = None) -> bool:
    """Whether the run's orchestrator beat within the last lease (by the database's clock)."""
    lease = settings.DRILLHALL_RUN_LEASE_SECONDS if seconds is None else seconds
    return DrillRun.objects.filter(
        id=run.id, heartbeat_at__gte=Now() - timedelta(seconds=lease)
    ).exists()


@dataclass(frozen=True)
class PlannedFaultId:
    fault_id: str
    kind: str
    host: str
    queue: str


def planned_faults(run: DrillRun) -> list[PlannedFaultId]:
    """Every fault the run's stored plan holds, by the id its agent knows it by."""
    if not run.plan:
        return []
    plan = Plan.from_dict(run.plan)
    return [
        PlannedFaultId(fault_id(run.key, step.index, 1), fault.kind, fault.host, fault.queue)
        for step, fault in plan.faults()
    ]


def end_lost_run(run: DrillRun, driver: FaultDriver | None = None) -> bool:
    """End a run whose orchestrator is gone: ask its agents about its faults, then end it as
    error. False when the run had ended meanwhile (someone else did it)."""
    run.refresh_from_db()
    if run.finished_at is not None:
        return False
    during = RunState(run.state)
    if driver is None:
        from drills.web.agents import CeleryFaultDriver

        driver = CeleryFaultDriver.for_run(run)  # signs reverts; admits nothing
    sink = RunEventSink(run.id)
    now = time.time()
    lines: list[str] = []
    events: list[tuple[EventType, dict[str, object]]] = []
    for fault in planned_faults(run):
        fid, host, what = fault.fault_id, fault.host, f"the {fault.kind} fault on {fault.host}"
        try:
            reply = driver.revert(fault.queue, fid, AGENT_TIMEOUT_S)
        except (AgentUnavailable, AgentRefused) as exc:
            events.append((EventType.FAULT_UNCONFIRMED, _fault(fid, host, "unconfirmed", str(exc))))
            lines.append(f"{what}: its agent did not answer, its own lease reverts it ({exc})")
            continue
        if reply.state is FaultState.UNKNOWN:
            continue  # never applied there: the run was lost before that step
        if reply.state is FaultState.REVERTED:
            how = f" ({reply.detail})" if reply.detail else ""
            events.append((EventType.FAULT_REVERTED, _fault(fid, host, "reverted")))
            lines.append(f"{what} is reverted, its agent confirms{how}")
        else:
            message = "the agent could not confirm the revert; its janitor keeps trying"
            events.append((EventType.FAULT_UNCONFIRMED, _fault(fid, host, "unconfirmed", message)))
            lines.append(f"{what}: its agent could not confirm the revert yet")
    _close_evidence(run.key)
    from drills.web.silencing import expire_left_silences

    events.extend(expire_left_silences(run))  # the run ends: so do the silences it made
    agents = "; ".join(lines) if lines else "no fault had been applied"
    reason = f"orchestrator lost during {during.value}: {agents}"
    from drills.web.run_control import rto_objective

    outcome = RunOutcome.error(reason, rto_objective(run))
    # The lifecycle of any run that may hold a fault: through reverting, then the end.
    if during not in (RunState.PENDING, RunState.REVERTING, RunState.PREFLIGHT):
        events.insert(0, (EventType.STATE, {"state": "reverting", "previous": during.value}))
        during = RunState.REVERTING
    return sink.end_with(events, outcome, reason, now, during)


def _fault(fid: str, host: str, state: str, message: str = "") -> dict[str, object]:
    data: dict[str, object] = {"fault_id": fid, "host": host, "state": state}
    if message:
        data["message"] = message
    return data


def _close_evidence(run_key: str) -> None:
    from drills.web.agents import RedisEvidenceFeed

    try:
        RedisEvidenceFeed(settings.REDIS_URL).close(run_key)
    except redis.RedisError:
        pass  # the evidence lease expires by itself; collectors stop then


@dataclass
class Reaper:
    """Finds lost and stuck runs; ``sweep`` is safe to run anywhere, any time, by anyone (the
    judgement reads only the database, and ending a run is written once)."""

    lease_seconds: float = field(default_factory=lambda: settings.DRILLHALL_RUN_LEASE_SECONDS)
    requeue_seconds: float = field(default_factory=lambda: settings.DRILLHALL_REQUEUE_SECONDS)
    pending_limit: float = field(default_factory=lambda: settings.DRILLHALL_PENDING_LIMIT_SECONDS)
    approval_limit: float = field(default_factory=lambda: settings.DRILLHALL_APPROVAL_LIMIT_SECONDS)

    def sweep(self, only: DrillRun | None = None) -> list[int]:
        """End every lost run (or just ``only``); returns the ids of the runs it ended."""
        ended = []
        runs = DrillRun.objects.filter(finished_at__isnull=True)
        if only is not None:
            runs = runs.filter(id=only.id)
        for run in runs.select_related("version__playbook"):
            if run.state == RunState.AWAITING_APPROVAL:
                self._awaiting(run)
            elif run.started_at is None:
                self._pending(run)
            elif self.lost(run) and end_lost_run(run):
                log.warning("run %s ended: orchestrator lost", run.id)
                ended.append(run.id)
        if ended:
            from drills.web.run_queue import admit_waiting

            admit_waiting()  # their slots are free: the runs queued behind them start
        return ended

    def lost(self, run: DrillRun) -> bool:
        started = run.started_at
        if started is None or timezone.now() - started < timedelta(seconds=self.lease_seconds):
            return False  # its orchestrator may not have taken the lease yet
        return not lease_alive(run, self.lease_seconds)

    def _awaiting(self, run: DrillRun) -> None:
        from drills.web.approvals import expire_run

        age = (timezone.now() - run.created_at).total_seconds()
        if age > self.approval_limit and expire_run(run, self.approval_limit):
            log.info("run %s ended: nobody approved it in time", run.id)

    def _pending(self, run: DrillRun) -> None:
        from drills.web.approvals import pending_since
        from drills.web.run_control import end_run, enqueue_run

        # From its approval, for a run that waited for one: it was not pending before.
        since = pending_since(run)
        age = (timezone.now() - since).total_seconds()
        # A queued run was seen by an orchestrator: it waits for a slot, not for a worker.
        if age > self.pending_limit and run.queued_at is None:
            end_run(
                run,
                f"no orchestrator took the run within {self.pending_limit:g} s; is an "
                "orchestrator worker running on this broker and database?",
            )
            return
        handed = run.enqueued_at or since
        if (timezone.now() - handed).total_seconds() >= self.requeue_seconds:
            log.info("run %s still pending: handing it to the orchestrator queue again", run.id)
            enqueue_run(run)


def run_reaper_thread(interval: float | None = None) -> threading.Thread:
    """Sweep every ``interval`` seconds (half a lease by default) for the life of the process.

    The same thread keeps Redis's copy of the halt in step with the database every
    DRILLHALL_HALT_SYNC_SECONDS (``drills.web.halt_sync``): the processes that must outlive a
    Redis restart are the ones that run this thread.
    """
    from drills.web.halt_sync import HaltSync

    every = interval if interval is not None else settings.DRILLHALL_RUN_LEASE_SECONDS / 2
    halt_every = settings.DRILLHALL_HALT_SYNC_SECONDS
    reaper = Reaper()
    halts = HaltSync()

    def loop() -> None:
        next_sync = time.monotonic() + halt_every
        next_sweep = time.monotonic() + every
        while True:
            time.sleep(max(0.0, min(next_sync, next_sweep) - time.monotonic()))
            now = time.monotonic()
            # A database that is away for a moment must end neither loop.
            if now >= next_sync:
                next_sync = now + halt_every
                try:
                    halts.sync()
                except Exception:
                    log.exception("the halt sync failed; trying again in %.0f s", halt_every)
            if now >= next_sweep:
                next_sweep = now + every
                try:
                    reaper.sweep()
                except Exception:
                    log.exception("the run reaper failed; trying again in %.0f s", every)
            try:
                close_old_connections()
            except Exception:
                log.exception("could not close this thread's stale database connections")

    thread = threading.Thread(target=loop, name="run-reaper", daemon=True)
    thread.start()
    return thread
