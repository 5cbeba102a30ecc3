"""The run's event stream: stored as RunEvents, then published to the run's live pages.

One record per run: an event that changes the run's state or carries its result is stored in
the same transaction as the row's ``state`` / ``result`` / ``finished_at``, so the row never
says what the stream does not, and a reader that saw the result event finds the row finished.
The first terminal state wins: a late writer (an orchestrator that was given up for lost) can
add events but cannot reopen or re-judge a finished run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from drills.engine.events import EventType
from drills.engine.outcome import RunOutcome
from drills.engine.states import RunState
from drills.playbook.redaction import redact_data
from drills.web.gameday_runs import drill_ended, publish_gameday
from drills.web.group_commit import committed, deferred_to_the_batch, writing_a_batch
from drills.web.live_events import live_events
from drills.web.models import DrillRun, RunEvent
from drills.web.models.runs import CompiledInsert
from drills.web.notify import queue_drill_events


class RunEventSink:
    """One writer per run at a time (the orchestrator, or whoever ends a lost run)."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        row = DrillRun.objects.get(id=run_id)
        self.group = row.group_name
        # A drill of a game day: the game day's live page shows its state too.
        self.gameday_run_id = row.gameday_run_id
        self._lock = threading.Lock()
        self._seq = self._last_seq()

    def _last_seq(self) -> int:
        return RunEvent.objects.filter(run_id=self.run_id).aggregate(m=Max("seq"))["m"] or 0

    def _resync(self) -> None:
        try:
            self._seq = self._last_seq()
        except DatabaseError:  # the database is away: the next write's IntegrityError resyncs
            pass

    def emit(self, type: EventType, data: dict[str, Any], t: float) -> None:
        self._write([(type, data)], t)

    def emit_many(self, events: list[tuple[EventType, dict[str, Any]]], t: float) -> None:
        """A tick's samples in one transaction: with many runs at once, a transaction per
        sample queued every run behind SQLite's one writer."""
        self._write(events, t)

    def end(self, outcome: RunOutcome, message: str, t: float, previous: RunState) -> bool:
        """End a run the engine did not end (refused plan, broker gone, orchestrator lost):
        the error, the state and the result, stored together like any other ending, and only
        while the run is still open. False when it had ended meanwhile."""
        return self.end_with([], outcome, message, t, previous)

    def refuse(self, outcome: RunOutcome, t: float, previous: RunState) -> bool:
        """End a run that must not start (a halt is in force): the abort with its reason, the
        state and the result, while the run is still open. Nothing ran, so nothing errored."""
        return self._write(
            [
                (EventType.ABORT, {"reason": outcome.reason}),
                (EventType.STATE, {"state": outcome.state.value, "previous": previous.value}),
                (EventType.RESULT, outcome.to_dict()),
            ],
            t,
            only_if_open=True,
        )

    def end_with(
        self,
        events: list[tuple[EventType, dict[str, Any]]],
        outcome: RunOutcome,
        message: str,
        t: float,
        previous: RunState,
    ) -> bool:
        """``end``, after ``events`` (what was found out on the way), all in one transaction."""
        return self._write(
            [
                *events,
                (EventType.ERROR, {"message": message}),
                (EventType.STATE, {"state": outcome.state.value, "previous": previous.value}),
                (EventType.RESULT, outcome.to_dict()),
            ],
            t,
            only_if_open=True,
        )

    def write_if(
        self,
        guard: Callable[[], bool],
        events: list[tuple[EventType, dict[str, Any]]],
        t: float,
    ) -> bool:
        """Store ``events`` only if ``guard`` (called first, inside the same transaction) says
        so: a compare-and-set on the run and the events that say what it did are stored
        together or not at all. False when the guard refused."""
        return self._write(events, t, guard=guard)

    def _write(
        self,
        events: list[tuple[EventType, dict[str, Any]]],
        t: float,
        only_if_open: bool = False,
        guard: Callable[[], bool] | None = None,
    ) -> bool:
        def store() -> list[RunEvent]:
            return self._store(prepared, only_if_open, guard)

        def store_after_the_others() -> list[RunEvent]:
            # Counted on the writer's connection, inside its transaction: it holds what other
            # writes of the same batch stored for this run, which a read from this thread
            # (committed rows only) would miss, and the retry would clash again. (Rows whose
            # INSERT the batch still defers are missed too: the clash then sends the batch
            # round again unit by unit, where each insert runs at once.)
            again = _Prepared.of(self.run_id, events, t, self._last_seq())
            return self._store(again, only_if_open, guard)

        with self._lock:
            # Made here, on the run's thread, not in the writer's: every run's writes wait
            # for that one thread, so what it does for each is kept to the statements.
            prepared = _Prepared.of(self.run_id, events, t, self._seq)
            try:
                try:
                    # With the writes of every other run this process drives, in one
                    # transaction (drills/web/group_commit.py); back once committed.
                    stored = committed(store)
                except IntegrityError:
                    # Someone else wrote to this run meanwhile (a run ended as lost while its
                    # orchestrator was only slow, the queue's note of its place): continue
                    # after what is stored.
                    stored = committed(store_after_the_others)
            except Exception:
                # Nothing of it was stored (its transaction failed after it counted its
                # seqs): count on from what is, so the next events leave no gap.
                self._resync()
                raise
            # Counted on only once committed: the writer may run a unit twice (a batch it
            # ran again unit by unit), and the second run must count from the same place.
            if stored:
                self._seq = stored[-1].seq
        return bool(stored)

    def _store(
        self, prepared: _Prepared, only_if_open: bool, guard: Callable[[], bool] | None = None
    ) -> list[RunEvent]:
        # In the writer's batch, the batch's transaction is this write's: a savepoint would
        # be two more statements for nothing. In a caller's own transaction, a savepoint
        # lets the caller go on (and try again) when this fails.
        with transaction.atomic(savepoint=not writing_a_batch()):
            if guard is not None and not guard():
                return []
            open_run = DrillRun.objects.filter(id=self.run_id, finished_at__isnull=True)
            if only_if_open and not open_run.select_for_update().exists():
                return []
            stored = prepared.rows
            # One INSERT for a tick's events, not one per event; in the writer's batch, one
            # for the events of every run in it.
            if not deferred_to_the_batch(CompiledInsert.run_together, prepared.insert):
                prepared.insert.run()
            if stored:
                # To the live pages once committed, by the committing thread (with the rest
                # of the writer's batch, drills/web/live_events.py). Robust: the hook runs
                # after a group commit, whose other units must not see its failure.
                group, live, messages = self.group, live_events(), prepared.messages
                transaction.on_commit(lambda: live.publish(group, messages), robust=True)
            if prepared.state is not None:
                # In the writer's batch, with the other runs' new states in one statement.
                # Not a write that ends the run or was guarded: its compare-and-set and its
                # result must see and set the state now.
                plain = prepared.result is None and guard is None and not only_if_open
                change = (self.run_id, prepared.state.value)
                if not (plain and deferred_to_the_batch(set_states_together, change)):
                    open_run.update(state=prepared.state)
            if prepared.result is not None:
                # The result closes the record: state, result and finished_at agree.
                open_run.update(result=prepared.result, finished_at=timezone.now())
            if stored:
                if self.gameday_run_id:
                    # A drill of a game day: its notifications go in the outbox with the
                    # change. A run is made a game day's drill before it starts, so a sink
                    # that saw no game day asks nothing on the writer's thread about one.
                    queue_drill_events(self.run_id, stored)
                if any(e.type == EventType.RESULT for e in stored):
                    run_id = self.run_id
                    # Robust: the hook runs after a group commit, whose other units must
                    # not see its failure (drills/web/group_commit.py).
                    transaction.on_commit(lambda: drill_ended(run_id), robust=True)
                elif self.gameday_run_id and any(e.type == EventType.STATE for e in stored):
                    gameday_run_id = self.gameday_run_id
                    transaction.on_commit(lambda: publish_gameday(gameday_run_id), robust=True)
        return stored


def set_states_together(changes: list[tuple[int, str]]) -> None:
    """The new states of a batch's runs in one UPDATE, not one per run: each statement the
    writer runs waits for the GIL again, behind every run's threads, and with a hundred runs
    starting at once their state events were most of a batch's statements. A run's last
    change wins, as one after the other would; a run that has ended keeps its state."""
    last = dict(changes)
    if not last:
        return
    quote = connection.ops.quote_name
    table = quote(DrillRun._meta.db_table)
    state, run_id, finished = quote("state"), quote("id"), quote("finished_at")
    whens = " ".join(["WHEN %s THEN %s"] * len(last))
    marks = ", ".join(["%s"] * len(last))
    params: list[object] = [value for change in last.items() for value in change]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {state} = CASE {run_id} {whens} ELSE {state} END "
            f"WHERE {run_id} IN ({marks}) AND {finished} IS NULL",
            [*params, *last],
        )


@dataclass
class _Prepared:
    """One write's events as rows numbered from a seq, the INSERT that stores them, their
    live messages, and the state or result they give the run."""

    rows: list[RunEvent]
    insert: CompiledInsert
    messages: list[dict[str, Any]]
    state: RunState | None
    result: dict[str, Any] | None

    @classmethod
    def of(
        cls, run_id: int, events: list[tuple[EventType, dict[str, Any]]], t: float, after: int
    ) -> _Prepared:
        state: RunState | None = None
        result: dict[str, Any] | None = None
        rows = []
        for seq, (type, data) in enumerate(events, start=after + 1):
            # What a server or a library said may quote a credential: never stored.
            data = redact_data(data)
            rows.append(RunEvent(run_id=run_id, seq=seq, type=str(type), t=t, data=data))
            # The result closes the record, so a state after it changes nothing.
            if type == EventType.STATE and result is None:
                state = RunState(data["state"])
            elif type == EventType.RESULT and result is None:
                result = data
        return cls(
            rows=rows,
            insert=RunEvent.objects.compile_append(rows),
            messages=[row.as_message() for row in rows],
            state=state,
            result=result,
        )
