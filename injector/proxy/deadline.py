"""Waking at a deadline to the microsecond, for the latency proxy's held chunks.

asyncio's own timers end in epoll_wait, whose timeout is whole milliseconds rounded up: a
chunk held 100 ms went out 0.4 ms late at the median and 0.9 ms at p90 (one process,
``asyncio.sleep`` to a deadline, 40 tries), part of network.latency's added-latency error. A
timerfd armed at the absolute CLOCK_MONOTONIC deadline (the clock of ``loop.time()``) becomes
readable when it is due, to the kernel's timer precision, and the loop wakes on it like on any
socket. Where timerfd is missing the wait falls back to ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import math
import os
import time
from typing import Any

CLOCK_MONOTONIC = 1
TFD_TIMER_ABSTIME = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = os.O_CLOEXEC


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_create: Any = None
_settime: Any = None
with contextlib.suppress(OSError, AttributeError):  # not Linux: asyncio's timers it is
    _libc = ctypes.CDLL(None, use_errno=True)
    _create, _settime = _libc.timerfd_create, _libc.timerfd_settime


class Deadline:
    """One timerfd, for one task's waits one after the other; close it when done."""

    def __init__(self) -> None:
        self.fd = -1
        if _create is not None and time.get_clock_info("monotonic").implementation.startswith(
            "clock_gettime(CLOCK_MONOTONIC)"
        ):
            self.fd = _create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)

    async def wait_until(self, due: float) -> None:
        """Return once ``loop.time()`` has reached ``due``."""
        loop = asyncio.get_running_loop()
        if due <= loop.time():
            return
        if self.fd < 0 or not self._arm(due):
            await asyncio.sleep(max(0.0, due - loop.time()))
            return
        ready: asyncio.Future[None] = loop.create_future()

        def due_now() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self.fd, due_now)
        try:
            await ready
        finally:
            loop.remove_reader(self.fd)
            with contextlib.suppress(BlockingIOError):
                os.read(self.fd, 8)  # the expiry count: read, so the next wait starts clear

    def _arm(self, due: float) -> bool:
        fraction, whole = math.modf(due)
        spec = _Itimerspec(it_value=_Timespec(int(whole), int(fraction * 1e9)))
        return _settime(self.fd, TFD_TIMER_ABSTIME, ctypes.byref(spec), None) == 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
