"""The queue of runs waiting to start: admission applied to the database's rows.

An orchestrator claims a pending run only if admission lets it (drills/engine/admission.py:
at most DRILLHALL_MAX_RUNS at once, one run at a time per host and port). Otherwise the run
stays pending and is marked queued, with how many runs are ahead of it and why; a ``queued``
event says so on the run page and in the CLI each time that changes. Nothing polls: a run
that ends hands the runs that may now start to the orchestrator queue (``admit_waiting``), and
the reaper's re-enqueue of pending runs (drills/web/liveness.py) catches a hand-over lost with
a crashed orchestrator.

Deciding and claiming happen under one lock, so two orchestrators never both take the last
slot: SQLite serializes the transaction (the settings open every transaction IMMEDIATE);
PostgreSQL takes a transaction-scoped advisory lock.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import Now
from django.utils import timezone

from drills.engine.admission import Admission, Candidate, Footprint, admit_in_order, decide
from drills.engine.events import EventType
from drills.engine.states import RunState
from drills.web.group_commit import committed, deferred_to_the_batch, writing_a_batch
from drills.web.models import DrillRun

log = logging.getLogger(__name__)

# Any fixed number: the advisory lock that admission decisions take on PostgreSQL.
_ADVISORY_LOCK = 0x44524C48  # "DRLH"


def claim(run: DrillRun) -> Admission:
    """Claim ``run`` for this orchestrator if admission lets it start now (compare-and-set on
    ``started_at``, as before admission existed); else mark it queued. A run that is no longer
    pending is neither (``Admission(False)`` with no reason).

    Through the process's writer (drills/web/group_commit.py): the claims that arrive
    together are decided together, in its transaction. Each claim was a transaction of its
    own, holding SQLite's lock across four statements, each a wait for the GIL behind the
    runs' threads: with a hundred runs starting at once, the writer that stores every run's
    events waited behind them for up to 190 ms at a time (docs/performance.md)."""
    request = _ClaimRequest(run.id)
    committed(request.decide)
    if request.changed:
        _say_queued(run.id, request.decision)
    return request.decision


@dataclass
class _ClaimRequest:
    """One run's claim, and, once its batch has decided, what was decided."""

    run_id: int
    decision: Admission = Admission(False)
    changed: bool = False  # its place in the queue changed: a queued event is due

    def decide(self) -> None:
        if not deferred_to_the_batch(_claim_together, self):
            _claim_together([self])


def _claim_together(requests: list[_ClaimRequest]) -> None:
    """Admission for several runs in one look at the waiting and running runs: oldest first,
    each as if the ones before it had been claimed, which is what one claim after the other
    decides. May run twice (the writer's batch again, unit by unit): it decides afresh."""
    by_id = {request.run_id: request for request in requests}
    for each in requests:
        each.decision, each.changed = Admission(False), False
    with _admission_lock():
        waiting, running = _waiting_and_active()
        held: list[Candidate] = []  # waiting runs made before the next one, not starting now
        starting: list[_ClaimRequest] = []
        for candidate in waiting:
            request = by_id.get(candidate.run_id)
            if request is None:
                held.append(candidate)
                continue
            request.decision = decide(candidate, running, held, settings.DRILLHALL_MAX_RUNS)
            if request.decision.admitted:
                running.append(candidate)
                starting.append(request)
            else:
                held.append(candidate)
                request.changed = _mark_queued(candidate.run_id, request.decision)
        _start(starting)


def _start(requests: list[_ClaimRequest]) -> None:
    """Compare-and-set every admitted run at once; one changed meanwhile (ended while it
    waited) is not claimed. The claim is the orchestrator's first beat of the run's lease
    (drills/web/liveness.py): one statement fewer for each run that starts."""
    if not requests:
        return
    now = timezone.now()
    ids = [request.run_id for request in requests]
    claimed = DrillRun.objects.filter(
        id__in=ids, state=RunState.PENDING, started_at__isnull=True
    ).update(started_at=now, heartbeat_at=Now(), queue_ahead=None, queue_reason="")
    if claimed == len(ids):
        return
    ours = set(DrillRun.objects.filter(id__in=ids, started_at=now).values_list("id", flat=True))
    for request in requests:
        if request.run_id not in ours:
            request.decision = Admission(False)


def admit_waiting() -> int:
    """Hand every queued run that may now start to the orchestrator queue, and tell the
    others their new place; called when a run ends. Returns how many were handed over."""
    from drills.web.run_control import enqueue_run

    with _admission_lock():
        waiting, active = _waiting_and_active()
        decisions = admit_in_order(waiting, active, settings.DRILLHALL_MAX_RUNS)
        queued = set(
            DrillRun.objects.filter(
                id__in=[c.run_id for c in waiting], queued_at__isnull=False
            ).values_list("id", flat=True)
        )
        moved = [
            (c.run_id, d) for c, d in decisions if not d.admitted and _mark_queued(c.run_id, d)
        ]
    # A run whose message is still on its way is decided when it arrives; only the runs an
    # orchestrator already held back need a new one.
    handed = [c.run_id for c, d in decisions if d.admitted and c.run_id in queued]
    for run in DrillRun.objects.filter(id__in=handed):
        enqueue_run(run)
    for run_id, decision in moved:
        _say_queued(run_id, decision)
    return len(handed)


def _waiting_and_active() -> tuple[list[Candidate], list[Candidate]]:
    """Pending runs not yet claimed, oldest first, and the runs an orchestrator claimed that
    have not ended: in one read, a statement fewer in the writer's batch."""
    waiting: list[tuple[int, str]] = []
    active: list[tuple[int, str]] = []
    for run_id, key, state, started in _unfinished():
        if started:
            active.append((run_id, key))
        elif state == RunState.PENDING:
            waiting.append((run_id, key))
    # A run awaiting approval is neither: its plan is not read.
    return list(_candidates(waiting)), list(_candidates(active))


def _unfinished() -> list[tuple[int, str, str, bool]]:
    """Every run not ended, by id: id, key, state and whether it was claimed.

    On SQLite as one row that holds them all. Python's sqlite3 gives up the GIL for every
    row it steps to, and in the writer's batch, with a hundred runs starting, each step was
    a wait to get it back behind the runs' threads: this read of a hundred rows took 5 to
    48 ms there, against half a millisecond when nothing else ran (docs/performance.md).
    A PostgreSQL client receives the rows in one go, so there they are rows."""
    if connection.vendor != "sqlite":
        rows = DrillRun.objects.filter(finished_at__isnull=True).values_list(
            "id", "key", "state", "started_at"
        )
        return sorted(
            (run_id, key, state, started is not None) for run_id, key, state, started in rows
        )
    column = {
        name: connection.ops.quote_name(DrillRun._meta.get_field(name).column)
        for name in ("id", "key", "state", "started_at", "finished_at")
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT json_group_array(json_array({column['id']}, {column['key']}, "
            f"{column['state']}, {column['started_at']} IS NOT NULL)) "
            f"FROM {connection.ops.quote_name(DrillRun._meta.db_table)} "
            f"WHERE {column['finished_at']} IS NULL"
        )
        (packed,) = cursor.fetchone()
    return sorted(
        (run_id, key, state, bool(started)) for run_id, key, state, started in json.loads(packed)
    )


# Footprints by run key. A run's plan is stored when the run is made and never changes, and
# every run that ends looks at every run in progress: with a hundred at once, reading and
# decoding their plans each time was 5 % of the orchestrator (py-spy). Keys, not ids: a key
# is never used twice, while a test database or a new one may give an id again.
_FOOTPRINTS_KEPT = 4096
_footprints: dict[str, Footprint] = {}
_footprints_lock = threading.Lock()


def _candidates(found: list[tuple[int, str]]) -> Iterator[Candidate]:
    with _footprints_lock:
        unknown = [key for _, key in found if key not in _footprints]
    read: dict[str, Footprint] = {}
    if unknown:
        plans = DrillRun.objects.filter(key__in=unknown).values_list("key", "plan")
        read = {key: Footprint.of_plan(plan) for key, plan in plans}
    with _footprints_lock:
        if len(_footprints) + len(read) > _FOOTPRINTS_KEPT:
            _footprints.clear()  # runs long ended; the ones in play are read again
        _footprints.update(read)
        known = [(run_id, _footprints.get(key)) for run_id, key in found]
    # A row gone between the two reads has no footprint: it touches nothing any more.
    return iter([Candidate(run_id, footprint or _NOTHING) for run_id, footprint in known])


_NOTHING = Footprint.of_plan(None)


def _mark_queued(run_id: int, decision: Admission) -> bool:
    """Store the run's place and reason; True when they changed (an event is due)."""
    reason = decision.reason[:300]
    changed = (
        DrillRun.objects.filter(id=run_id, started_at__isnull=True, finished_at__isnull=True)
        .exclude(queue_ahead=decision.ahead, queue_reason=reason)
        .update(queue_ahead=decision.ahead, queue_reason=reason)
    )
    DrillRun.objects.filter(id=run_id, queued_at__isnull=True).update(queued_at=timezone.now())
    return bool(changed)


def _say_queued(run_id: int, decision: Admission) -> None:
    from drills.web.stream import RunEventSink

    try:
        RunEventSink(run_id).emit(
            EventType.QUEUED,
            {"ahead": decision.ahead, "reason": decision.reason},
            timezone.now().timestamp(),
        )
    except Exception:  # the row holds the place too; the event is for the live page
        log.warning("could not record the queue place of run %s", run_id, exc_info=True)


@contextmanager
def _admission_lock() -> Iterator[None]:
    # In the writer's batch, its transaction: a savepoint would be two statements more.
    with transaction.atomic(savepoint=not writing_a_batch()):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK])
        yield
