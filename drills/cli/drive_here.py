"""`drillhall run` drives its own run, in a thread of its own process, as an orchestrator would,
when no orchestrator worker is running (a server's, `make demo`'s: those get the run as before).

Starting an orchestrator worker for one run cost a pipeline about three seconds (Django, Celery
and every task module, on a machine busy starting the agents too: docs/performance.md), and
stopping it more. The run needs no worker of its own: the CLI calls the orchestrator's entry
point (drills.web.orchestrator.execute_run) itself, which claims the run under admission, holds
its liveness lease and drives the engine, exactly as the task does. The agents still carry the
faults and own their lifetime (their leases and ledgers), so a CLI that dies mid-run leaves
nothing on: its faults revert when their leases run out, and the reaper ends the run as lost.

A run that admission queues ("queued, 2 ahead") is handed to the orchestrator queue when its
turn comes (drills/web/run_queue.py), so then an orchestrator worker is needed after all: the
pool starts one, as it did for every run before. A run that another orchestrator took first
(one an approval handed over) is only followed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# How long `drillhall run` waits, when it leaves early, for the run it drives to end: an abort
# reverts every fault within the agents' apply timeouts, well inside this.
LEAVE_WAIT_S = 60.0


class DriveHere:
    """The run ``run_key`` driven in a daemon thread; ``need_orchestrator`` is called (from that
    thread) when admission queued the run instead."""

    def __init__(self, run_key: str, need_orchestrator: Callable[[], object]) -> None:
        self.run_key = run_key
        self.need_orchestrator = need_orchestrator
        # Set when the thread is done: the command's wait for the run's last events ends then,
        # not at its next look at the database.
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._drive, name="drive-here", daemon=True)

    def start(self) -> DriveHere:
        self._thread.start()
        return self

    def wait(self, timeout: float = LEAVE_WAIT_S) -> bool:
        """True once the thread is done (the run ended, was queued, or is driven elsewhere)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _drive(self) -> None:
        from django.db import connections

        from drills.web.orchestrator import execute_run
        from drills.web.run_control import end_run

        try:
            if execute_run(self.run_key) == "queued":
                self.need_orchestrator()
        except Exception as exc:
            log.exception("run %s: driving it here failed", self.run_key)
            from drills.web.models import DrillRun

            run = DrillRun.objects.filter(key=self.run_key).first()
            if run is not None:
                end_run(run, f"drillhall run could not drive the run: {exc}")
        finally:
            connections.close_all()
            self.done.set()
