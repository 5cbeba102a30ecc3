"""runqueue_latency from /proc schedstat files when eBPF is unavailable.

``/proc/<tid>/schedstat`` holds, per thread, the time run, the time spent waiting on a run
queue and the number of times it got a CPU (all since the thread started). Per interval,
waited / times-on-CPU is the mean wait in ms. Scope: every thread of ``Scope.pids``, every
thread listed in the cgroup v2 directories whose ids are ``Scope.cgroup_ids``; an empty
scope uses the per-CPU totals of ``/proc/schedstat`` (kernels with CONFIG_SCHEDSTATS) or
else every thread on the host.

Coarser than the eBPF collector: a mean without buckets, and a thread that exits during an
interval takes its last part of that interval with it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ebpf.collector import CollectorUnavailable, KernelSample, Scope, Source

PROC = Path("/proc")
PROC_SCHEDSTAT = PROC / "schedstat"
CGROUP2_MOUNTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))


@dataclass(frozen=True)
class Waits:
    wait_ns: int
    slices: int

    def __sub__(self, other: Waits) -> Waits:
        return Waits(self.wait_ns - other.wait_ns, self.slices - other.slices)


def parse_task_schedstat(text: str) -> Waits:
    """``run_ns wait_ns slices`` of one thread."""
    _, wait_ns, slices = text.split()[:3]
    return Waits(int(wait_ns), int(slices))


def parse_proc_schedstat(text: str) -> Waits:
    """Waits summed over the CPUs of /proc/schedstat (``cpuN`` lines: fields 8 and 9 are the
    run-queue wait in ns and the number of timeslices run)."""
    wait_ns = slices = 0
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0].startswith("cpu") and len(fields) >= 10:
            wait_ns += int(fields[8])
            slices += int(fields[9])
    return Waits(wait_ns, slices)


def _thread_waits(tids: Iterator[str]) -> dict[str, Waits]:
    found = {}
    for tid in tids:
        try:
            found[tid] = parse_task_schedstat((PROC / tid / "schedstat").read_text())
        except (OSError, ValueError):
            continue  # exited between listing and reading
    return found


def _tasks_of(pid: int) -> Iterator[str]:
    try:
        yield from os.listdir(PROC / str(pid) / "task")
    except OSError:
        return


def _all_tasks() -> Iterator[str]:
    for entry in os.listdir(PROC):
        if entry.isdigit():
            yield from _tasks_of(int(entry))


def cgroup_dirs(ids: frozenset[int]) -> list[Path]:
    """The cgroup v2 directories whose inode numbers (= cgroup ids) are in ids."""
    found = []
    for mount in CGROUP2_MOUNTS:
        if not (mount / "cgroup.threads").exists():
            continue
        for directory, _, _ in os.walk(mount):
            try:
                if os.stat(directory).st_ino in ids:
                    found.append(Path(directory))
            except OSError:
                continue
    return found


class ProcRunqueueLatency:
    name = "runqueue_latency"
    source = Source.PROC

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._cgroups: list[Path] = []
        self._last: dict[str, Waits] | None = None

    def _tids(self) -> Iterator[str]:
        for pid in sorted(self.scope.pids):
            yield from _tasks_of(pid)
        for directory in self._cgroups:
            try:
                yield from (directory / "cgroup.threads").read_text().split()
            except OSError:
                continue  # the cgroup was removed

    def _sample(self) -> dict[str, Waits]:
        if self.scope.pids or self.scope.cgroup_ids:
            return _thread_waits(self._tids())
        if PROC_SCHEDSTAT.exists():
            return {"*": parse_proc_schedstat(PROC_SCHEDSTAT.read_text())}
        return _thread_waits(_all_tasks())

    def attach(self) -> None:
        if self.scope.cgroup_ids:
            self._cgroups = cgroup_dirs(self.scope.cgroup_ids)
        if not (PROC / "self" / "schedstat").exists():
            raise CollectorUnavailable("/proc/<pid>/schedstat missing (kernel without SCHED_INFO)")
        self._last = self._sample()

    def read(self, now: float) -> list[KernelSample]:
        if self._last is None:
            return []
        current = self._sample()
        wait_ns = slices = 0
        for key, waits in current.items():
            # A thread first seen now started during the interval: all of it is new.
            delta = waits - self._last.get(key, Waits(0, 0))
            wait_ns += delta.wait_ns
            slices += delta.slices
        self._last = current
        mean_ms = wait_ns / slices / 1e6 if slices > 0 else 0.0
        return [
            KernelSample(now, "runqueue_latency_ms", mean_ms, Source.PROC, count=max(slices, 0))
        ]

    def close(self) -> None:
        self._last = None
