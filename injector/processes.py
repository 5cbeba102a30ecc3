"""Finding the processes a process fault acts on, and never the wrong ones.

A process is named by (pid, start time): the kernel's start time (field 22 of
``/proc/<pid>/stat``) tells a recycled pid from the process that was recorded. Matching is by
exact command name, pid file or cgroup; when the agent serves a network namespace, only
processes in that namespace match, so a lab host's fault touches only that host's processes.
pid 1, kernel threads, the agent itself and its ancestors never match.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from injector.children import start_time
from injector.commands import NETNS_DIR, valid_netns_name

PROC = Path("/proc")
CGROUP_ROOT = Path("/sys/fs/cgroup")
COMM_LENGTH = 15  # the kernel truncates comm to 15 bytes
PIDFILE_READ = 64  # bytes of a pid file read: a pid and a newline, with room to spare
# The kernel's own file systems: a "pid file" there is a device or a kernel view, never a pid
# file a service wrote (/dev/zero never ends, a FIFO never answers).
KERNEL_FILESYSTEMS = ("/proc/", "/sys/", "/dev/")


@dataclass(frozen=True, order=True)
class ProcessRef:
    """A process as it was when matched: ordered oldest first."""

    start_time: int
    pid: int

    def to_json(self) -> dict[str, int]:
        return {"pid": self.pid, "start_time": self.start_time}

    @classmethod
    def from_json(cls, data: Any) -> ProcessRef | None:
        if not isinstance(data, dict):
            return None
        pid, started = data.get("pid"), data.get("start_time")
        if not isinstance(pid, int) or not isinstance(started, int) or pid <= 1:
            return None
        return cls(start_time=started, pid=pid)

    def alive(self) -> bool:
        return start_time(self.pid) == self.start_time

    def state(self) -> str | None:
        """The one-letter state (R, S, T, ...) while this very process lives, else None."""
        fields = _stat_fields(self.pid)
        if not fields or not self.alive():
            return None
        return fields[0]


@dataclass(frozen=True)
class Match:
    """Exactly one of name, pidfile, cgroup (the playbook's ``match``)."""

    name: str | None = None
    pidfile: str | None = None
    cgroup: str | None = None

    @classmethod
    def parse(cls, raw: Any) -> Match:
        if not isinstance(raw, dict) or set(raw) - {"name", "pidfile", "cgroup"}:
            raise ValueError("match must be an object with one of name, pidfile, cgroup")
        given = {k: v for k, v in raw.items() if v is not None}
        if len(given) != 1:
            raise ValueError("match needs exactly one of name, pidfile, cgroup")
        (key, value), = given.items()  # fmt: skip
        if not isinstance(value, str) or not value or "\0" in value:
            raise ValueError(f"match.{key} must be a non-empty string")
        if key == "pidfile" and not os.path.isabs(value):
            raise ValueError("match.pidfile must be an absolute path")
        if key == "pidfile" and (os.path.normpath(value) + "/").startswith(KERNEL_FILESYSTEMS):
            raise ValueError(
                "match.pidfile is in one of the kernel's file systems (/proc, /sys, /dev)"
            )
        if key == "cgroup" and ".." in Path(value).parts:
            raise ValueError("match.cgroup must not contain '..'")
        if key == "name" and "/" in value:
            raise ValueError("match.name is a command name, not a path")
        return cls(**{key: value})

    def describe(self) -> str:
        if self.name is not None:
            return f"name {self.name}"
        if self.pidfile is not None:
            return f"pid file {self.pidfile}"
        return f"cgroup {self.cgroup}"


def _stat_fields(pid: int) -> list[str]:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return []
    return stat[stat.rindex(")") + 2 :].split()  # after the command name


def _comm(pid: int) -> str | None:
    try:
        return (PROC / str(pid) / "comm").read_text().rstrip("\n")
    except OSError:
        return None


def _argv0(pid: int) -> str | None:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    if not raw:
        return None  # a kernel thread or a zombie
    return os.path.basename(raw.split(b"\0", 1)[0].decode(errors="replace"))


def _by_name(name: str) -> set[int]:
    found = set()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        # comm is exact for short names; a longer one only shows whole in argv[0].
        if (len(name) <= COMM_LENGTH and _comm(pid) == name) or _argv0(pid) == name:
            found.add(pid)
    return found


def _by_pidfile(path: str) -> set[int]:
    """The pid a regular file starts with. Non-blocking, and only its first bytes: a FIFO or a
    device named as a pid file must neither hang the agent nor fill its memory."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return set()
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return set()
        head = os.read(fd, PIDFILE_READ)
    except OSError:
        return set()
    finally:
        os.close(fd)
    text = head.decode("ascii", errors="replace").split()
    return {int(text[0])} if text and text[0].isdigit() and len(text[0]) <= 10 else set()


def cgroup_procs_files(cgroup: str) -> list[Path]:
    """Where the cgroup's members are listed: a v2 path, or the path under each v1 hierarchy."""
    path = Path(cgroup)
    if path.is_absolute() and path.is_relative_to(CGROUP_ROOT):
        return [path / "cgroup.procs"]
    rel = path.relative_to("/") if path.is_absolute() else path
    candidates = [CGROUP_ROOT / rel / "cgroup.procs"]
    try:
        hierarchies = sorted(p for p in CGROUP_ROOT.iterdir() if p.is_dir())
    except OSError:
        hierarchies = []
    candidates += [h / rel / "cgroup.procs" for h in hierarchies]
    return [c for c in candidates if _is_file(c)]


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name longer than any file system takes: no such cgroup
        return False


def _by_cgroup(cgroup: str) -> set[int]:
    found = set()
    for procs in cgroup_procs_files(cgroup):
        try:
            found |= {int(line) for line in procs.read_text().split() if line.isdigit()}
        except OSError:
            continue
    return found


def netns_id(netns: str) -> tuple[int, int] | None:
    if not valid_netns_name(netns):
        return None
    try:
        st = os.stat(os.path.join(NETNS_DIR, netns))
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _process_netns(pid: int) -> tuple[int, int] | None:
    try:
        st = os.stat(PROC / str(pid) / "ns" / "net")
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def protected_pids() -> set[int]:
    """pid 0, pid 1, kthreadd, this process and every ancestor of it."""
    protected = {0, 1, 2}
    pid = os.getpid()
    while pid > 1 and pid not in protected:
        protected.add(pid)
        fields = _stat_fields(pid)
        pid = int(fields[1]) if len(fields) > 1 else 0
    return protected


def find(match: Match, netns: str | None = None) -> list[ProcessRef]:
    """Live processes matching, oldest first; inside netns only when one is given."""
    if match.name is not None:
        pids = _by_name(match.name)
    elif match.pidfile is not None:
        pids = _by_pidfile(match.pidfile)
    else:
        assert match.cgroup is not None
        pids = _by_cgroup(match.cgroup)
    wanted_ns = netns_id(netns) if netns else None
    if netns and wanted_ns is None:
        return []  # the namespace is gone, and with it every process we could touch
    protected = protected_pids()
    refs = []
    for pid in pids - protected:
        fields = _stat_fields(pid)
        if len(fields) < 20 or fields[0] in "ZX" or int(fields[1]) == 2:
            continue  # gone, a zombie or a kernel thread
        if wanted_ns is not None and _process_netns(pid) != wanted_ns:
            continue
        started = start_time(pid)
        if started is not None:
            refs.append(ProcessRef(start_time=started, pid=pid))
    return sorted(refs)


def save(path: Path, refs: list[ProcessRef]) -> None:
    """Record refs atomically (written before any signal is sent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([r.to_json() for r in refs]))
    os.replace(tmp, path)


def load(path: Path) -> list[ProcessRef] | None:
    """The recorded refs, or None when nothing (readable) was recorded."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, list):
        return None
    return [ref for ref in map(ProcessRef.from_json, data) if ref is not None]
