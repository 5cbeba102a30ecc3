"""Group commit: the writes of every run a process drives, committed together by one thread.

SQLite has one writer at a time. With a hundred runs in one orchestrator process, each run's
thread began its own transaction for every tick's events and every lease beat; they queued on
SQLite's lock, whose busy handler sleeps and retries, and under that load a run waited past the
20 s busy timeout ("database is locked") or missed its lease beat and was ended as lost
(docs/performance.md, "Many drills at once"). A lock of our own in front of SQLite made it
worse: the writes still went one transaction at a time.

Here a run's thread hands its unit of work to the process's writer thread and waits for the
answer. The writer takes every unit waiting, runs them in one transaction and commits once.
When a unit fails, nothing of that transaction is kept and the batch runs again with each unit
in a savepoint of its own: the unit that fails rolls back alone and raises in its caller, the
others commit.
A caller still returns only once its write is committed, so what it does next (publishing the
event, ending the run) never runs ahead of the database.

Work that is already inside a transaction runs where it is, in that transaction: it must
commit or roll back with it (a test's transaction, or a caller's compare-and-set). So does
work handed over from the writer thread itself (an on-commit hook that writes).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

from django.db import DatabaseError, OperationalError, connection, transaction

from drills.web.live_events import live_events

log = logging.getLogger(__name__)

T = TypeVar("T")

# Units in one transaction at most: a bound on how long the first of them waits for the commit.
MAX_BATCH = 200

Unit = tuple[Callable[[], object], "Future[object]"]
Outcome = tuple["Future[object]", object, BaseException | None]


class GroupCommit:
    """One writer thread and its queue of units of work."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Unit] = queue.SimpleQueue()
        self.batches = 0  # transactions committed (or tried): how well writes were grouped
        # While a batch runs all or nothing: statements its units left to be run together.
        self._deferred: dict[Callable[[list[Any]], None], list[Any]] | None = None
        self._turn_files: dict[str, int] = {}  # SQLite file -> its writers' lock file
        self._thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
        self._thread.start()

    def run(self, work: Callable[[], T]) -> T:
        """``work()`` committed: in the caller's own transaction if it is in one, else with
        whatever else is waiting, in the writer thread's next transaction."""
        if connection.in_atomic_block or threading.current_thread() is self._thread:
            return work()
        done: Future[object] = Future()
        self._queue.put((work, done))
        return done.result()  # type: ignore[return-value]

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(batch)
            except BaseException as exc:  # the writer must outlive any batch: callers wait on it
                log.exception("a group of %d writes failed", len(batch))
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)

    def _commit(self, batch: list[Unit]) -> None:
        self.batches += 1
        # The live events the batch stored leave right after its commit, every run's in
        # one round trip (drills/web/live_events.py), and before any caller is back: a
        # caller that returned knows its events were published.
        with live_events().batched():
            outcomes = self._outcomes(batch)
        for done, result, error in outcomes:
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)

    def _outcomes(self, batch: list[Unit]) -> list[Outcome]:
        with self._turn_among_processes():
            return self._outcomes_in_turn(batch)

    @contextlib.contextmanager
    def _turn_among_processes(self) -> Iterator[None]:
        """On SQLite, the writers of every process that shares the file (two orchestrator
        workers, one per core) take turns on a lock file beside it before they begin. SQLite
        has one writer at a time too, but a writer it turns away sleeps in its busy handler
        (1, 2, 5 ... 100 ms) while the lock may already be free: a batch waited 1.08 s there
        behind another orchestrator's (docs/performance.md). A process waiting here looks
        again within 2 ms of the other letting go, and gives up as SQLite would, with
        "database is locked" after its busy timeout: a writer stopped mid-batch (SIGSTOP)
        must not hang every other process's writer for ever. Writes from outside a writer
        (a view, the CLI) still meet SQLite's own lock only."""
        name = str(connection.settings_dict.get("NAME") or "")
        if connection.vendor != "sqlite" or not name or name.startswith((":memory:", "file:")):
            yield
            return
        fd = self._turn_files.get(name)
        if fd is None:
            fd = os.open(f"{name}.writers", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
            self._turn_files[name] = fd
        _take_turn(fd, float(connection.settings_dict.get("OPTIONS", {}).get("timeout", 5)))
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _outcomes_in_turn(self, batch: list[Unit]) -> list[Outcome]:
        _reopen_if_broken()
        failure = self._all_or_nothing(batch)
        if isinstance(failure, list):
            return failure
        if len(batch) == 1:  # it failed alone already
            return [(batch[0][1], None, failure)]
        _reopen_if_broken()
        return self._each_in_a_savepoint(batch)

    def _all_or_nothing(self, batch: list[Unit]) -> list[Outcome] | Exception:
        """The batch in one transaction without savepoints; what failed, with nothing
        stored, when a unit or the commit failed. A savepoint and its release are two
        statements per unit, and each statement gives up the GIL and waits to get it back:
        the usual batch, where nothing fails, goes without them. So a unit may run twice,
        and must leave nothing behind but its database writes until they are committed
        (drills/web/stream.py)."""
        try:
            with transaction.atomic():
                self._deferred = {}
                try:
                    results = [work() for work, _ in batch]
                    for run_all, items in self._deferred.items():
                        run_all(items)
                finally:
                    self._deferred = None
        except Exception as exc:
            return exc
        return [(done, result, None) for (_, done), result in zip(batch, results, strict=True)]

    def _each_in_a_savepoint(self, batch: list[Unit]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        try:
            with transaction.atomic():
                for work, done in batch:
                    try:
                        with transaction.atomic():  # a savepoint: this unit fails alone
                            result = work()
                    except Exception as exc:  # the work, or its savepoint's release, failed
                        outcomes.append((done, None, exc))
                    else:
                        outcomes.append((done, result, None))
        except Exception as exc:  # the commit itself failed: nothing of the batch is stored
            log.warning("a group of %d writes was not committed: %s", len(batch), exc)
            return [(done, None, exc) for _, done in batch]
        return outcomes


def _reopen_if_broken() -> None:
    """The writer keeps its connection from batch to batch: Django's ``close_old_connections``
    closes it after every batch when CONN_MAX_AGE is 0 (the default), and opening one again
    each time was about a twentieth of the orchestrator's CPU with 100 runs (py-spy). After a
    batch whose commit failed (a PostgreSQL server that dropped the connection, a SQLite file
    gone) it is closed, and the next batch opens a new one."""
    if connection.connection is None or not connection.errors_occurred:
        return
    with contextlib.suppress(DatabaseError):  # closing a broken connection may fail too
        connection.close()


_lock = threading.Lock()
_writer: GroupCommit | None = None


def _forget_in_child() -> None:
    # A forked child has the parent's writer object but not its thread: it starts its own.
    global _writer, _lock
    _writer, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


def committed(work: Callable[[], T]) -> T:
    """``work()``, committed through this process's writer (started on first use)."""
    global _writer
    if _writer is None:
        with _lock:
            if _writer is None:
                _writer = GroupCommit()
    return _writer.run(work)


def writing_a_batch() -> bool:
    """Whether this thread is the process's writer, running a batch (whose transaction is
    then every unit's)."""
    writer = _writer
    return writer is not None and threading.current_thread() is writer._thread


def deferred_to_the_batch(run_all: Callable[[list[T]], None], item: T) -> bool:
    """In the writer's batch (all or nothing): keep ``item`` for ``run_all``, which the
    writer calls once, just before the commit, with the items of every unit that deferred
    to it, so that a hundred runs' INSERTs, new states, lease beats and claims are a few
    statements, each a wait for the GIL fewer. False anywhere else: the caller does it now,
    where a failure is its own. Deferred work runs in the order the kinds were first
    deferred. A later unit of the batch that reads the table does not see what was deferred
    (so what must be seen, a guarded write's or an ending's state, is not deferred); if that
    makes the deferred statements fail, the batch runs again unit by unit, deferring nothing."""
    writer = _writer
    if not writing_a_batch() or writer is None or writer._deferred is None:
        return False  # not the writer, or its units one by one, each failing alone
    writer._deferred.setdefault(run_all, []).append(item)
    return True


def _take_turn(fd: int, timeout: float) -> None:
    """An exclusive flock on ``fd`` within ``timeout`` seconds, else OperationalError. A
    blocking flock has no timeout, so it is asked without blocking, at most 2 ms apart."""
    deadline = time.monotonic() + timeout
    pause = 0.0002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise OperationalError(
                    f"database is locked: another process's writer has held its turn for "
                    f"{timeout:g} s"
                ) from None
            time.sleep(pause)
            pause = min(2 * pause, 0.002)
