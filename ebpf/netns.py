"""Doing something inside a named network namespace without moving the whole process.

``setns(CLONE_NEWNET)`` changes only the calling thread, so the work runs in a short-lived
thread that enters ``/run/netns/NAME`` and ends; the rest of the process stays where it was.
What the thread creates keeps its namespace afterwards: a socket stays in the namespace it was
made in, and a /proc/thread-self/net file opened there keeps reading that namespace's counters.
(``/proc/self/net`` would not do: it follows the process's main thread, not the caller.)
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def netns_path(name: str) -> str:
    if not name or "/" in name or name in {".", ".."}:
        raise ValueError(f"not a network namespace name: {name!r}")
    return os.path.join(NETNS_DIR, name)


def netns_inode(name: str) -> int:
    """The inode that identifies the namespace, as the kernel's ``net->ns.inum``."""
    return os.stat(netns_path(name)).st_ino


def _setns(fd: int) -> None:
    # os.setns arrived in Python 3.12; this project runs 3.11.
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def run_in_netns(name: str, fn: Callable[[], T], timeout: float = 30.0) -> T:
    """fn() run by a thread inside the namespace; its result, or its exception re-raised."""
    fd = os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
    box: dict[str, object] = {}

    def worker() -> None:
        try:
            _setns(fd)
            box["result"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    try:
        thread = threading.Thread(target=worker, name=f"netns-{name}", daemon=True)
        thread.start()
        thread.join(timeout)
    finally:
        os.close(fd)
    if thread.is_alive():
        raise TimeoutError(f"work inside netns {name} took over {timeout:g} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]
