"""Group commit: many threads' writes committed together by the process's writer thread, each
caller back only once its write is stored, a failing write rolled back alone."""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.backends.signals import connection_created

from drills.web.group_commit import GroupCommit, committed
from drills.web.models import RunEvent
from tests.web.personas import World, make_run
from tests.web.statements import statements_on_new_connections

pytestmark = pytest.mark.django_db(transaction=True)


def test_writes_from_many_threads_are_stored_when_each_call_returns(world: World) -> None:
    run = make_run(world.version, world.owner)
    writer = GroupCommit()
    seen_on_return: list[bool] = []

    def write(seq: int) -> None:
        writer.run(lambda: RunEvent.objects.create(run=run, seq=seq, type="sample", t=0.0))
        # Read on this thread's own connection: committed, not merely written.
        seen_on_return.append(RunEvent.objects.filter(run=run, seq=seq).exists())
        connection.close()

    threads = [threading.Thread(target=write, args=(seq,)) for seq in range(1, 51)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert seen_on_return == [True] * 50
    assert sorted(run.events.values_list("seq", flat=True)) == list(range(1, 51))
    assert writer.batches < 50  # they waited together, and were committed together


def test_a_failing_write_rolls_back_alone_and_raises_in_its_caller(world: World) -> None:
    run = make_run(world.version, world.owner)
    writer = GroupCommit()
    RunEvent.objects.create(run=run, seq=1, type="state", t=0.0)
    release = threading.Event()
    errors: list[BaseException] = []

    def slow() -> None:  # holds the writer, so the two below wait in one batch
        release.wait(5)
        RunEvent.objects.create(run=run, seq=2, type="sample", t=0.0)

    def duplicate() -> None:
        try:
            writer.run(lambda: RunEvent.objects.create(run=run, seq=1, type="sample", t=0.0))
        except IntegrityError as exc:
            errors.append(exc)
        connection.close()

    def good() -> None:
        writer.run(lambda: RunEvent.objects.create(run=run, seq=3, type="sample", t=0.0))
        connection.close()

    first = threading.Thread(target=lambda: (writer.run(slow), connection.close()))
    first.start()
    time.sleep(0.2)
    others = [threading.Thread(target=duplicate), threading.Thread(target=good)]
    for thread in others:
        thread.start()
    time.sleep(0.2)
    release.set()
    for thread in (first, *others):
        thread.join(timeout=10)
    assert len(errors) == 1
    assert sorted(run.events.values_list("seq", "type")) == [
        (1, "state"), (2, "sample"), (3, "sample"),
    ]  # fmt: skip


def test_a_write_inside_a_transaction_commits_or_rolls_back_with_it(world: World) -> None:
    run = make_run(world.version, world.owner)
    writer = GroupCommit()

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        writer.run(lambda: RunEvent.objects.create(run=run, seq=1, type="sample", t=0.0))
        raise Undo
    assert not run.events.exists()
    assert writer.batches == 0


def test_a_forked_child_writes_through_a_writer_of_its_own(world: World) -> None:
    """The parent's writer thread does not exist in a forked child; a write there must not
    wait for it forever."""
    run = make_run(world.version, world.owner)
    committed(lambda: RunEvent.objects.create(run=run, seq=1, type="sample", t=0.0))
    connection.close()  # the child opens its own
    pid = os.fork()
    if pid == 0:  # the child: exit 0 once its write is stored
        code = 1
        try:
            committed(lambda: RunEvent.objects.create(run=run, seq=2, type="sample", t=0.0))
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert done[0] == pid and os.waitstatus_to_exitcode(done[1]) == 0
    assert sorted(run.events.values_list("seq", flat=True)) == [1, 2]


def test_the_writer_keeps_its_connection_and_reopens_one_an_error_broke(world: World) -> None:
    run = make_run(world.version, world.owner)
    writer = GroupCommit()
    opened: list[int] = []

    def count(sender: object, connection: object, **kwargs: object) -> None:
        opened.append(threading.get_ident())

    connection_created.connect(count)
    try:
        for seq in range(1, 6):  # one after another: five batches
            writer.run(lambda seq=seq: RunEvent.objects.create(run=run, seq=seq, type="sample",
                                                               t=0.0))  # fmt: skip
        assert writer.batches == 5 and len(opened) == 1

        def break_it() -> None:  # as a server that dropped the connection would
            connection.connection.close()

        # Its caller hears of it, and the writer goes on (it once died here, and every
        # write after it waited forever).
        with pytest.raises(DatabaseError):
            writer.run(break_it)
        writer.run(lambda: RunEvent.objects.create(run=run, seq=6, type="sample", t=0.0))
    finally:
        connection_created.disconnect(count)
    assert len(opened) == 2 and len(set(opened)) == 1  # once more, on the writer's thread
    assert run.events.count() == 6


def test_a_batch_where_nothing_fails_is_one_transaction_without_savepoints(world: World) -> None:
    """Each savepoint is two more statements, and each statement waits for the GIL again:
    the usual batch goes without them (a failing one is covered above)."""
    run = make_run(world.version, world.owner)
    writer = GroupCommit()
    release = threading.Event()
    with statements_on_new_connections() as statements:
        first = threading.Thread(target=lambda: writer.run(lambda: release.wait(5)))
        first.start()
        time.sleep(0.2)
        writes = [
            threading.Thread(
                target=lambda seq=seq: (
                    writer.run(lambda: RunEvent.objects.create(run=run, seq=seq, type="s", t=0.0)),
                    connection.close(),
                )
            )
            for seq in range(1, 4)
        ]
        for thread in writes:
            thread.start()
        time.sleep(0.2)
        release.set()
        for thread in (first, *writes):
            thread.join(timeout=10)
    assert writer.batches == 2  # the one held, then the three together
    assert sorted(run.events.values_list("seq", flat=True)) == [1, 2, 3]
    assert [s for s in statements if "SAVEPOINT" in s.upper()] == []


def test_a_writer_waits_its_turn_behind_another_process_writer_of_the_same_sqlite_file(
    world: World,
) -> None:
    """Two orchestrator workers share the SQLite file: the second writer waits on the lock
    file, not in SQLite's busy handler, and goes on as soon as the first lets go."""
    if connection.vendor != "sqlite":
        return  # one writer's turn is PostgreSQL's own business
    run = make_run(world.version, world.member)
    lock = os.open(f"{connection.settings_dict['NAME']}.writers", os.O_RDWR | os.O_CREAT)
    stored = threading.Event()

    def write() -> None:
        committed(lambda: RunEvent.objects.create(run=run, seq=1, type="log", t=1.0, data={}))
        stored.set()

    committed(lambda: None)  # the writer is up before the other "process" holds the lock
    fcntl.flock(lock, fcntl.LOCK_EX)  # another open file: flock treats it as another process
    try:
        threading.Thread(target=write, daemon=True).start()
        assert not stored.wait(0.5)
        assert not RunEvent.objects.filter(run=run).exists()
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
    assert stored.wait(10)
    assert RunEvent.objects.filter(run=run, seq=1).exists()


def test_a_writer_behind_a_turn_held_past_the_busy_timeout_fails_as_sqlite_would(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer of another process stopped mid-batch (SIGSTOP) holds the lock file: the
    writers of every other process say "database is locked" after SQLite's busy timeout,
    as they did before the lock file, instead of waiting for ever."""
    if connection.vendor != "sqlite":
        return  # one writer's turn is PostgreSQL's own business
    run = make_run(world.version, world.member)
    committed(lambda: None)
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.5)
    lock = os.open(f"{connection.settings_dict['NAME']}.writers", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)  # another open file: flock treats it as another process
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseError, match="database is locked"):
            committed(lambda: RunEvent.objects.create(run=run, seq=1, type="log", t=1.0, data={}))
        assert time.monotonic() - started < 5
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
    # Nothing of it was stored, and the writer goes on once the turn is free.
    assert not RunEvent.objects.filter(run=run).exists()
    committed(lambda: RunEvent.objects.create(run=run, seq=1, type="log", t=1.0, data={}))
    assert RunEvent.objects.filter(run=run, seq=1).exists()
