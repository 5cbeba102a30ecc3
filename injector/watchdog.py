"""A Celery worker that is alive but deaf exits, so that its supervisor starts a fresh one.

After a broker restart, kombu's Redis transport can leave a worker process running with a
consumer that never reconnects ("'NoneType' object has no attribute 'hostname'" in its log):
it takes no task and answers no control message, yet nothing restarts it, because it has not
died. Both kinds of worker (the orchestrator's and each agent's) watch themselves: while the
broker answers, the worker pings its own node through the broker; when it has not answered its
own ping several times in a row, and has taken no task meanwhile, it exits (status 75, "try
again later"). A task taken is as good an answer as the ping's: a busy agent serves its tasks
one at a time, and its own ping waits in its queue behind them (100 drills on one host kept
it waiting longer than its 2 s), so a worker judged by the ping alone would exit for being
busy. The orchestrator's
ping is Celery's remote control; an agent has no remote control (its Redis user may not reach
the control queues), so it sends itself its own ``ping`` task instead. An agent's supervisor
then reverts what its ledger holds and starts a new worker; an orchestrator's (systemd, the CLI
pool, the test stacks) starts a new one, and runs it left are ended by the reaper. Each answer
an agent gets is also its heartbeat (``injector.heartbeat``).

No Celery import: the caller passes its app and how to reach the broker.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

EXIT_DEAF = 75  # EX_TEMPFAIL


def watch(
    app: Any,
    node: str,
    broker_answers: Callable[[], bool],
    every: float = 5.0,
    misses: int = 3,
    exit: Callable[[int], None] = os._exit,
    answers: Callable[[], bool] | None = None,
    on_answer: Callable[[], None] | None = None,
    progress: Callable[[], int] | None = None,
) -> threading.Thread:
    """Start the watch on a daemon thread; ``node`` is the worker's own name (name@host).
    ``answers`` asks the worker to answer (default: a remote-control ping to ``node``);
    ``on_answer`` is called after each answer (an agent's heartbeat, ``injector.heartbeat``);
    ``progress`` counts the tasks the worker has taken (``TasksTaken``): when it moved since
    the last look, the worker is not asked, it has answered."""
    last = progress() if progress is not None else None

    def took_a_task() -> bool:
        nonlocal last
        seen = progress() if progress is not None else None
        moved, last = seen is not None and seen != last, seen
        return moved

    def control_ping() -> bool:
        return bool(app.control.ping(destination=[node], timeout=2.0))

    asks = answers or control_ping

    def loop() -> None:
        missed = 0
        stop = threading.Event()
        while not stop.wait(every):
            try:
                if not broker_answers():
                    missed = 0  # the broker is away: nothing to judge until it is back
                    continue
                answered = took_a_task() or asks()
            except Exception as exc:
                log.warning("watchdog: cannot ping %s: %s", node, exc)
                continue
            missed = 0 if answered else missed + 1
            if answered and on_answer is not None:
                on_answer()
            if missed >= misses:
                log.error(
                    "watchdog: %s has not answered its own ping %d times while the broker "
                    "answers: its consumer is gone; exiting so that a fresh worker takes over",
                    node,
                    missed,
                )
                exit(EXIT_DEAF)
                return

    thread = threading.Thread(target=loop, name="worker-watchdog", daemon=True)
    thread.start()
    return thread


class TasksTaken:
    """How many tasks the worker's consumer has taken: Celery's ``task_received`` signal
    counts them (``count``), the watchdog reads them (``__call__``)."""

    def __init__(self) -> None:
        self._taken = 0

    def count(self, *_: Any, **__: Any) -> None:
        self._taken += 1  # one consumer thread counts; a torn read only delays a judgement

    def __call__(self) -> int:
        return self._taken
