"""Independent clients for the IO, process and stress fault tests.

Every measurement runs in a separate Python process (or reads /proc), never through the
fault object, so the tests see what an application would see.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import have_root, require, run

# Small reads at offset 0: with direct_io on the FUSE side each one reaches the file system.
_READS = """
import errno, json, os, sys, time
path, count = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_RDONLY)
times, errors = [], {}
for _ in range(count):
    start = time.monotonic()
    try:
        os.pread(fd, 64, 0)
    except OSError as exc:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        errors[name] = errors.get(name, 0) + 1
    times.append(time.monotonic() - start)
os.close(fd)
print(json.dumps({"times": times, "errors": errors}))
"""

_WRITE = """
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
try:
    os.write(fd, b"payload")
    os.fsync(fd)
    print("ok")
except OSError as exc:
    print(errno.errorcode.get(exc.errno, str(exc.errno)))
finally:
    os.close(fd)
"""


def timed_reads(
    path: Path, count: int, timeout: float = 30.0
) -> tuple[list[float], dict[str, int]]:
    """Durations of `count` small reads of path from another process, and errors by name."""
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _READS, str(path), str(count)],
        capture_output=True, text=True, timeout=timeout, check=True,
    ).stdout  # fmt: skip
    data = json.loads(out)
    return data["times"], data["errors"]


def write_result(path: Path) -> str:
    """ "ok", or the errno name a write + fsync of path failed with (from another process)."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", _WRITE, str(path)],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout.strip()  # fmt: skip


def fuse_mounts_at(path: Path) -> list[str]:
    """FUSE mount sources at path, read straight from the kernel's mount table."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if left.split()[4] == str(path) and right.split()[0].startswith("fuse"):
            found.append(right.split()[1])
    return found


@contextmanager
def fuse_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes
) -> Iterator[Path]:
    """tmp_path/data holding `file` with content, for an IO fault to mount FUSE over.

    Fails on CI (skips elsewhere) without root and FUSE; the agent's state goes under
    tmp_path; whatever the test did, no FUSE mount is left at the directory.
    """
    require(have_root(), "needs root (FUSE mounts)")
    require(os.path.exists("/dev/fuse"), "needs /dev/fuse")
    require(shutil.which("fusermount3") is not None, "needs fusermount3 (apt-get install fuse3)")
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path / "state"))
    directory = tmp_path / "data"
    directory.mkdir()
    (directory / "file").write_bytes(content)
    try:
        yield directory
    finally:
        for _ in fuse_mounts_at(directory):
            run(["fusermount3", "-uz", str(directory)], check=False)


def proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[0]


def session_pids(sid: int) -> list[int]:
    """Every live process of session sid (a spawned child and all its workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def _ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _waited_ns(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1])  # runqueue wait
    except (OSError, IndexError, ValueError):
        return 0


def cpu_cores_used(sid: int, seconds: float = 1.0) -> tuple[float, float]:
    """CPU used by session sid over `seconds` in cores (utime+stime from /proc/<pid>/stat),
    and the time it spent runnable but waiting for a CPU (schedstat), in cores.

    The machine is shared: other work can hold the CPUs, so a worker that wants one core may
    get less. used + waited is what it asked for; used alone is what it got.
    """
    pids = session_pids(sid)
    before = {pid: (_ticks(pid), _waited_ns(pid)) for pid in pids}
    start = time.monotonic()
    time.sleep(seconds)
    after = {pid: (_ticks(pid), _waited_ns(pid)) for pid in pids}
    elapsed = time.monotonic() - start
    ticks = sum(max(0, after[pid][0] - before[pid][0]) for pid in pids)
    waited = sum(max(0, after[pid][1] - before[pid][1]) for pid in pids)
    return ticks / os.sysconf("SC_CLK_TCK") / elapsed, waited / 1e9 / elapsed


def rss_bytes(sid: int) -> int:
    """Resident memory of session sid, summed over its processes (VmRSS)."""
    total = 0
    for pid in session_pids(sid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total
