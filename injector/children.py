"""Child processes a fault leaves running (proxies, resolvers, FUSE file systems, stress workers).

Each child is started in its own session, so it outlives the worker that started it: a
killed worker must not take the fault's machinery down half-way, and its janitor must be able
to stop it exactly. A pid file records the pid *and* the kernel's start time of that pid, so
a recycled pid is never mistaken for the child.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from injector.commands import child_environment, in_netns


@dataclass(frozen=True)
class ChildRecord:
    pid: int
    start_time: int  # clock ticks since boot, field 22 of /proc/<pid>/stat

    def to_text(self) -> str:
        return f"{self.pid} {self.start_time}\n"

    @classmethod
    def from_text(cls, text: str) -> ChildRecord | None:
        parts = text.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            return None
        return cls(int(parts[0]), int(parts[1]))


def start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited; only its exit status is left
        return None
    return int(fields[19])


def _pid_file(workdir: Path, name: str) -> Path:
    return workdir / f"{name}.pid"


def spawn(
    workdir: Path,
    name: str,
    argv: list[str],
    *,
    netns: str | None = None,
) -> ChildRecord:
    """Start argv (inside netns if given), detached, with its output in workdir/name.log and
    the minimal environment of injector.commands, none of the agent's."""
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            in_netns(netns, argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=child_environment(),
            close_fds=True,
        )
    started = start_time(proc.pid)
    record = ChildRecord(proc.pid, started if started is not None else 0)
    tmp = _pid_file(workdir, name).with_suffix(".tmp")
    tmp.write_text(record.to_text())
    os.replace(tmp, _pid_file(workdir, name))
    return record


def read(workdir: Path, name: str) -> ChildRecord | None:
    try:
        return ChildRecord.from_text(_pid_file(workdir, name).read_text())
    except OSError:
        return None


def alive(workdir: Path, name: str) -> bool:
    record = read(workdir, name)
    return record is not None and start_time(record.pid) == record.start_time


def stop(workdir: Path, name: str, grace: float = 3.0) -> bool:
    """Stop the child (SIGTERM, then SIGKILL) and forget it. True when it is gone."""
    record = read(workdir, name)
    if record is None:
        return True
    for sig in (signal.SIGTERM, signal.SIGKILL):  # politely first, then for sure
        if start_time(record.pid) != record.start_time:
            break
        try:
            os.killpg(record.pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and start_time(record.pid) == record.start_time:
            _reap(record.pid)
            time.sleep(0.02)
    gone = start_time(record.pid) != record.start_time
    if gone:
        _pid_file(workdir, name).unlink(missing_ok=True)
    return gone


def _reap(pid: int) -> None:
    # When this process started the child, collect its exit status so it is not a zombie.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
