"""What tells a run to stop (its abort button, "halt all"), read once for every run a process
drives.

Each run asked on its own every quarter second: a query for its own abort request, a query
for a halt, and a new Redis connection (with its authentication) for the halt key. With a
hundred runs in one orchestrator that was over a thousand calls a second, each giving up and
taking back the GIL the run threads share: in a py-spy profile of 100 drills at once, 8 % of
the time the orchestrator held the GIL (docs/performance.md, "Many drills at once").

Here one look answers every run of the process: the open runs whose abort was asked for, and
the halt in force, read through one Redis client that stays connected. A look is used for at
most ``MAX_AGE_S``; a run's first question always gets a new look, so no run ever hears what
was true before it started (a halt released just before).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Runs poll every 0.25 s (drills.engine.runner.RunOptions): a look this old adds at most this
# much to the time an abort takes.
MAX_AGE_S = 0.1


@dataclass(frozen=True)
class Look:
    """What was asked for when the watch last looked."""

    requested: dict[int, str] = field(default_factory=dict)  # open run id -> its reason
    halt: str | None = None  # "halted: <reason>" while a halt is in force

    def reason(self, run_id: int) -> str | None:
        return self.requested.get(run_id) or self.halt


class AbortWatch:
    def __init__(
        self,
        look: Callable[[], Look],
        max_age: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._look, self._max_age, self._clock = look, max_age, clock
        self._lock = threading.Lock()
        self._last: Look | None = None
        self._looked_at = 0.0

    def reason(self, run_id: int, fresh: bool = False) -> str | None:
        """Why run ``run_id`` must stop, or None. ``fresh``: look again whatever the age of
        the last look (a run's first question)."""
        asked = self._clock()
        with self._lock:
            # A look that began after this question was asked is as good as a fresh one: the
            # threads that waited on the lock meanwhile share it.
            if self._last is None or (fresh and self._looked_at < asked) or (
                self._clock() - self._looked_at >= self._max_age
            ):  # fmt: skip
                looked_at = self._clock()
                self._last = self._look()
                self._looked_at = looked_at
            return self._last.reason(run_id)


def look_now() -> Look:
    """The open runs with an abort asked for, and the halt in force (drills.web.halt)."""
    from drills.web.halt import abort_reason
    from drills.web.models import DrillRun

    requested = DrillRun.objects.filter(
        abort_requested_at__isnull=False, finished_at__isnull=True
    ).values_list("id", "abort_reason")
    return Look(
        requested={run_id: reason or "abort requested" for run_id, reason in requested},
        halt=abort_reason(kept_flag=True),
    )


_lock = threading.Lock()
_watch: AbortWatch | None = None


def abort_watch() -> AbortWatch:
    """This process's watch (made on first use)."""
    global _watch
    with _lock:
        if _watch is None:
            _watch = AbortWatch(look_now)
        return _watch
