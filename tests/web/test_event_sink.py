"""The run's event sink: a tick's samples stored together, in order, after what was stored."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from drills.engine.events import EventType
from drills.web.group_commit import committed
from drills.web.liveness import RunLease
from drills.web.models import DrillRun, RunEvent
from drills.web.stream import RunEventSink
from tests.web.personas import World, make_run
from tests.web.statements import statements_of_the_writer, statements_on_new_connections

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(failed: list[BaseException], work) -> threading.Thread:  # type: ignore[no-untyped-def]
    """``work`` started in a thread of its own, given 0.2 s to reach the writer's queue; its
    IntegrityError, if any, goes in ``failed``."""

    def run() -> None:
        try:
            work()
        except IntegrityError as exc:
            failed.append(exc)
        connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.2)
    return thread


def test_emit_many_stores_a_ticks_samples_in_order_after_what_was_stored(world: World) -> None:
    run = make_run(world.version, world.owner)
    sink = RunEventSink(run.id)
    sink.emit(EventType.STATE, {"state": "preflight", "previous": "pending"}, 1.0)
    samples = [(EventType.SAMPLE, {"probe": "shop", "ok": True, "n": n}) for n in range(5)]
    sink.emit_many(samples, 2.0)
    stored = list(run.events.order_by("seq").values_list("seq", "type", "data"))
    assert [seq for seq, _, _ in stored] == [1, 2, 3, 4, 5, 6]
    assert [data.get("n") for _, type, data in stored if type == "sample"] == [0, 1, 2, 3, 4]


def test_events_whose_group_commit_failed_leave_no_gap_in_the_seqs(world: World) -> None:
    """The sink counts seqs while storing; when the transaction it shared with other runs'
    writes fails at commit, it stores its events again, counting on from what is stored."""
    run = make_run(world.version, world.owner)
    sink = RunEventSink(run.id)
    sink.emit(EventType.STATE, {"state": "preflight", "previous": "pending"}, 1.0)
    release = threading.Event()
    failed: list[BaseException] = []

    # The writer is busy; the next two writes wait, and are committed together.
    busy = in_thread(failed, lambda: committed(lambda: release.wait(5)))
    # Another run's write that fails only at commit: a foreign key SQLite checks then.
    other = in_thread(
        failed,
        lambda: committed(
            lambda: RunEvent.objects.create(run_id=run.id + 1000, seq=1, type="sample", t=0.0)
        ),
    )
    ours = in_thread(failed, lambda: sink.emit(EventType.SAMPLE, {"n": 1}, 2.0))
    release.set()
    for thread in (busy, other, ours):
        thread.join(10)
    assert len(failed) == 1  # the other run's write; ours was stored again
    sink.emit(EventType.SAMPLE, {"n": 2}, 3.0)
    stored = list(run.events.order_by("seq").values_list("seq", "data"))
    assert stored == [
        (1, {"state": "preflight", "previous": "pending"}), (2, {"n": 1}), (3, {"n": 2}),
    ]  # fmt: skip


def test_many_writers_of_one_run_never_give_two_events_one_seq(world: World) -> None:
    """The orchestrator's sink and short-lived ones of the same run (the queue's "3 ahead"
    notes) write side by side. A retry after a clash counted on from what this thread could
    read as committed, not from what the writer's own transaction held: at 150 drills the
    retry clashed again and the run ended in error (`bench/concurrent_drills.py`)."""
    run = make_run(world.version, world.owner)
    driver = RunEventSink(run.id)
    failed: list[BaseException] = []

    def write(short_lived: bool) -> None:
        try:
            for n in range(15):
                sink = RunEventSink(run.id) if short_lived else driver
                sink.emit(EventType.SAMPLE, {"probe": "shop", "ok": True, "n": n}, float(n))
        except IntegrityError as exc:
            failed.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(i > 0,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failed == []
    assert sorted(run.events.values_list("seq", flat=True)) == list(range(1, 8 * 15 + 1))


def test_a_write_run_again_after_another_failed_beside_it_counts_from_the_same_place(
    world: World,
) -> None:
    """The writer first runs a batch without savepoints; when one write in it fails, it runs
    every write again on its own. Ours then must store the same seqs, not count on from its
    first, rolled-back try."""
    run = make_run(world.version, world.owner)
    other = make_run(world.version, world.owner)
    RunEvent.objects.create(run=other, seq=1, type="state", t=0.0)
    sink = RunEventSink(run.id)
    sink.emit(EventType.STATE, {"state": "preflight", "previous": "pending"}, 1.0)
    release = threading.Event()
    failed: list[BaseException] = []

    busy = in_thread(failed, lambda: committed(lambda: release.wait(5)))
    ours = in_thread(failed, lambda: sink.emit(EventType.SAMPLE, {"n": 1}, 2.0))
    clash = in_thread(
        failed,
        lambda: committed(lambda: RunEvent.objects.create(run=other, seq=1, type="x", t=0.0)),
    )
    release.set()
    for thread in (busy, ours, clash):
        thread.join(10)
    assert len(failed) == 1  # the clash alone
    sink.emit(EventType.SAMPLE, {"n": 2}, 3.0)
    stored = list(run.events.order_by("seq").values_list("seq", "data"))
    assert stored == [
        (1, {"state": "preflight", "previous": "pending"}), (2, {"n": 1}), (3, {"n": 2}),
    ]  # fmt: skip


def test_the_events_of_every_run_in_a_writers_batch_go_in_one_insert(world: World) -> None:
    """Each statement on the writer's thread is another wait for the GIL behind every run's
    threads: a batch's events are one INSERT, whatever the number of runs in it."""
    runs = [make_run(world.version, world.owner) for _ in range(5)]
    sinks = [RunEventSink(run.id) for run in runs]
    release = threading.Event()
    with statements_on_new_connections() as statements:
        connection.close()  # the writer's connection is made again, watched
        committed(lambda: connection.close())
        busy = threading.Thread(target=lambda: committed(lambda: release.wait(5)))
        busy.start()
        time.sleep(0.2)
        writes = [
            threading.Thread(
                target=lambda sink=sink: (
                    sink.emit_many([(EventType.SAMPLE, {"n": n}) for n in range(3)], 1.0),
                    connection.close(),
                )
            )
            for sink in sinks
        ]
        for thread in writes:
            thread.start()
        time.sleep(0.3)
        statements.clear()
        release.set()
        for thread in (busy, *writes):
            thread.join(timeout=10)
    inserts = [s for s in statements if s.upper().startswith("INSERT")]
    assert len(inserts) == 1
    for run in runs:
        assert list(run.events.order_by("seq").values_list("seq", "data")) == [
            (1, {"n": 0}), (2, {"n": 1}), (3, {"n": 2}),
        ]  # fmt: skip


def test_runs_states_and_lease_beats_written_together_are_one_statement_each(
    world: World,
) -> None:
    """Each statement the writer runs waits for the GIL again, behind every run's threads: a
    hundred runs starting at once must not cost a statement each for their new states and
    their lease beats. A run that has ended keeps its state."""
    first, second, ended = (make_run(world.version, world.owner) for _ in range(3))
    DrillRun.objects.filter(id=ended.id).update(state="passed", finished_at=timezone.now())
    sinks = [RunEventSink(run.id) for run in (first, second, ended)]
    release = threading.Event()
    failed: list[BaseException] = []
    with statements_of_the_writer() as statements:
        busy = in_thread(failed, lambda: committed(lambda: release.wait(5)))
        writes = [
            in_thread(failed, lambda sink=sink, state=state: sink.emit(
                EventType.STATE, {"state": state, "previous": "pending"}, 1.0
            ))
            for sink, state in zip(sinks, ("preflight", "baseline", "preflight"), strict=True)
        ]  # fmt: skip
        beats = [in_thread(failed, RunLease(run.id, 30)._renew) for run in (first, second)]
        release.set()
        for thread in (busy, *writes, *beats):
            thread.join(10)
    assert failed == []
    states = dict(DrillRun.objects.values_list("id", "state"))
    assert [states[run.id] for run in (first, second, ended)] == ["preflight", "baseline", "passed"]
    assert DrillRun.objects.filter(heartbeat_at__isnull=False).count() == 2
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert len([s for s in updates if '"state"' in s]) == 1
    assert len([s for s in updates if '"heartbeat_at"' in s]) == 1
