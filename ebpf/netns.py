"""Doing something inside a named network namespace without moving the whole process.

``setns(CLONE_NEWNET)`` changes only the calling thread (Python 3.11 has no os.setns, hence libc
through ctypes). So a probe thread can enter its host's namespace and stay there while the rest
of the process (the engine, other probes) is untouched, and short work runs in a short-lived
thread that enters ``/run/netns/NAME`` and ends. What the thread creates keeps its namespace
afterwards: a socket stays in the namespace it was made in, a /proc/thread-self/net file opened
there keeps reading that namespace's counters, and children forked by the thread inherit it.
(``/proc/self/net`` would not do: it follows the process's main thread, not the caller.)

Used by the kernel collectors' /proc fallbacks and by probes that sample from a host.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

NETNS_DIR = Path("/run/netns")  # where `ip netns add` mounts named namespaces
CLONE_NEWNET = 0x40000000
T = TypeVar("T")

_libc: ctypes.CDLL | None = None


class NetnsError(OSError):
    """A namespace is missing or cannot be entered (usually: not root)."""


def netns_path(name: str) -> Path:
    if not name or "/" in name or name in {".", ".."}:
        raise NetnsError(f"invalid network namespace name {name!r}")
    return NETNS_DIR / name


def netns_exists(name: str) -> bool:
    try:
        return netns_path(name).exists()
    except NetnsError:
        return False


def netns_inode(name: str) -> int:
    """The inode that identifies the namespace, as the kernel's ``net->ns.inum``."""
    return os.stat(netns_path(name)).st_ino


def _setns() -> Callable[[int, int], int]:
    global _libc
    if _libc is None:
        # The libc this process already runs on (dlopen(NULL)): ctypes.util.find_library
        # would start /sbin/ldconfig to look for it, from the probes, as root.
        _libc = ctypes.CDLL(None, use_errno=True)
    func = _libc.setns
    func.argtypes = [ctypes.c_int, ctypes.c_int]
    func.restype = ctypes.c_int
    return func  # type: ignore[no-any-return]


def enter_netns(name: str) -> None:
    """Move the calling thread (only) into the network namespace ``name`` for good."""
    path = netns_path(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NetnsError(f"network namespace {name!r} does not exist ({path})") from None
    except OSError as exc:
        raise NetnsError(f"cannot open network namespace {name!r}: {exc.strerror}") from None
    try:
        if _setns()(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise NetnsError(
                errno, f"cannot enter network namespace {name!r}: {os.strerror(errno)}"
            )
    finally:
        os.close(fd)


def run_in_netns(name: str, func: Callable[[], T], timeout: float | None = 30.0) -> T:
    """``func()`` run on a short-lived thread inside ``name``; the caller's thread stays put."""
    result: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            enter_netns(name)
            result.append(func())
        except BaseException as exc:  # handed back to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=body, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"work in network namespace {name!r} took longer than {timeout}s")
    if failure:
        raise failure[0]
    return result[0]
