"""The one clock every part of a run reads and waits on.

A drill is mostly waiting: a baseline, faults that last minutes, a recovery watch. Every part of
the engine (the run loop, the probe pool, fault leases, the evidence watch) takes its time from
one injected ``Clock`` instead of calling ``time`` itself, so that:

* in production, ``SystemClock`` is exactly ``time.time`` / ``time.monotonic`` / ``time.sleep``;
* in tests, ``FakeClock`` moves only when the run sleeps, and instantly: a 60 s drill is judged
  in milliseconds, with the same ticks, renewals and windows as in real time, and the same
  result every time.

``now()`` is wall time (seconds since the epoch): events, probe samples, kernel samples and SLA
windows are stamped with it, so it is the time base of everything a run judges. ``monotonic()``
measures intervals that must not jump when the wall clock is set (probe schedules).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    @property
    def realtime(self) -> bool:
        """True when time passes by itself, so a part may wait on it from its own thread.

        False (a ``FakeClock``): time moves only when the run loop sleeps; parts that would
        use a thread do their periodic work on the loop's tick instead.
        """
        ...

    def now(self) -> float:
        """Wall time, seconds since the epoch."""
        ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait until ``event`` is set or ``seconds`` have passed; True if it is set."""
        ...


class SystemClock:
    realtime = True

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(max(0.0, seconds))


# A fixed, recognisable start: events of a fake-clock run read 2023-11-14 22:13:20 UTC on.
FAKE_EPOCH = 1_700_000_000.0


class FakeClock:
    """Virtual time for tests: ``sleep`` and ``wait`` advance it at once, nothing else does.

    Thread-safe, but meant for one thread doing the waiting (the run loop); a part that sees
    ``realtime`` False must not start threads that wait on it.
    """

    realtime = False

    def __init__(self, start: float = FAKE_EPOCH) -> None:
        self._start = start
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._start + self._elapsed

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        with self._lock:
            self._elapsed += seconds

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        self.sleep(seconds)
        return event.is_set()

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the clock was made."""
        with self._lock:
            return self._elapsed


def utc_time(t: float) -> str:
    """``t`` as a person reads it in a sentence: ``12:03:04 UTC``."""
    return datetime.fromtimestamp(t, tz=UTC).strftime("%H:%M:%S UTC")
