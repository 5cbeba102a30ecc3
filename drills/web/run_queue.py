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

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from drills.engine.admission import Admission, Candidate, Footprint, admit_in_order, decide
from drills.engine.events import EventType
from drills.engine.states import RunState
from drills.web.models import DrillRun

log = logging.getLogger(__name__)

# Any fixed number: the advisory lock that admission decisions take on PostgreSQL.
_ADVISORY_LOCK = 0x44524C48  # "DRLH"


def claim(run: DrillRun) -> Admission:
    """Claim ``run`` for this orchestrator if admission lets it start now (compare-and-set on
    ``started_at``, as before admission existed); else mark it queued. A run that is no longer
    pending is neither (``Admission(False)`` with no reason)."""
    with _admission_lock():
        waiting = list(_waiting())
        me = next((c for c in waiting if c.run_id == run.id), None)
        if me is None:
            return Admission(False)
        before = [c for c in waiting if c.run_id < run.id]
        decision = decide(me, list(_active()), before, settings.DRILLHALL_MAX_RUNS)
        if decision.admitted:
            claimed = DrillRun.objects.filter(
                id=run.id, state=RunState.PENDING, started_at__isnull=True
            ).update(started_at=timezone.now(), queue_ahead=None, queue_reason="")
            return decision if claimed else Admission(False)
        changed = _mark_queued(run.id, decision)
    if changed:
        _say_queued(run.id, decision)
    return decision


def admit_waiting() -> int:
    """Hand every queued run that may now start to the orchestrator queue, and tell the
    others their new place; called when a run ends. Returns how many were handed over."""
    from drills.web.run_control import enqueue_run

    with _admission_lock():
        waiting = list(_waiting())
        decisions = admit_in_order(waiting, list(_active()), settings.DRILLHALL_MAX_RUNS)
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


def _waiting() -> Iterator[Candidate]:
    """Pending runs not yet claimed, oldest first."""
    rows = DrillRun.objects.filter(
        state=RunState.PENDING, started_at__isnull=True, finished_at__isnull=True
    ).order_by("id")
    return _candidates(rows)


def _active() -> Iterator[Candidate]:
    """Runs an orchestrator claimed that have not ended."""
    return _candidates(DrillRun.objects.filter(started_at__isnull=False, finished_at__isnull=True))


# Footprints by run key. A run's plan is stored when the run is made and never changes, and
# every run that ends looks at every run in progress: with a hundred at once, reading and
# decoding their plans each time was 5 % of the orchestrator (py-spy). Keys, not ids: a key
# is never used twice, while a test database or a new one may give an id again.
_FOOTPRINTS_KEPT = 4096
_footprints: dict[str, Footprint] = {}
_footprints_lock = threading.Lock()


def _candidates(rows: QuerySet[DrillRun]) -> Iterator[Candidate]:
    found = list(rows.values_list("id", "key"))
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
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK])
        yield
