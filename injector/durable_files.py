"""Files an agent must find again after a crash or a power cut: its ledger, its run tickets
and its copy of a halt.

A write goes to a temporary file beside the target, is fsynced, renamed over the target and
the directory fsynced, so a reader sees the old content or the new, never half, and the rename
itself survives a power cut. ``locked`` is the flock two processes of one agent (supervisor and
worker) take around a read-modify-write of the same directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    # The pid keeps two writers of one file (two processes of one agent) off each other's tmp.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` reach the disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``lock_file`` (made 0600 if missing)."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock
