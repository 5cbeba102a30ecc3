"""block_io_latency from /proc/diskstats when eBPF is unavailable.

Per interval: (time spent reading + time spent writing) / (reads + writes completed), in ms,
from the kernel's per-device counters. Coarser than the eBPF collector: the kernel counts
time in whole milliseconds, and a mean says nothing of the tail (no buckets). Scope is by
device as in ``ebpf.blockio``; with no devices every whole disk counts (partitions are left
out, their IO is already in their disk's line).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ebpf.blockio import devices_label
from ebpf.collector import CollectorUnavailable, KernelSample, Scope, Source

DISKSTATS = Path("/proc/diskstats")
SYS_BLOCK = Path("/sys/block")


@dataclass(frozen=True)
class DiskCounters:
    ios: int  # reads + writes completed
    ms: int  # milliseconds spent on them


def parse_diskstats(text: str) -> dict[tuple[int, int, str], DiskCounters]:
    """(major, minor, name) -> counters, from the text of /proc/diskstats."""
    found = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) < 11:
            continue
        # reads completed, merged, sectors, ms reading; writes completed, merged, sectors, ms
        reads, read_ms, writes, write_ms = int(f[3]), int(f[6]), int(f[7]), int(f[10])
        found[(int(f[0]), int(f[1]), f[2])] = DiskCounters(reads + writes, read_ms + write_ms)
    return found


class ProcBlockIoLatency:
    name = "block_io_latency"
    source = Source.PROC

    def __init__(self, scope: Scope, devices: frozenset[int] = frozenset()) -> None:
        self.scope = scope
        self.devices = devices
        self._wanted = {(os.major(d), os.minor(d)) for d in devices}
        self._last: dict[tuple[int, int], DiskCounters] | None = None

    def _counters(self) -> dict[tuple[int, int], DiskCounters]:
        disks = set(os.listdir(SYS_BLOCK)) if not self._wanted else set()
        return {
            (major, minor): counters
            for (major, minor, name), counters in parse_diskstats(DISKSTATS.read_text()).items()
            if ((major, minor) in self._wanted if self._wanted else name in disks)
        }

    def attach(self) -> None:
        try:
            self._last = self._counters()
        except OSError as exc:
            raise CollectorUnavailable(f"cannot read {DISKSTATS}: {exc}") from exc

    def read(self, now: float) -> list[KernelSample]:
        if self._last is None:
            return []
        current = self._counters()
        ios = ms = 0
        for device, counters in current.items():
            before = self._last.get(device, DiskCounters(0, 0))
            # A counter that went down is a device detached and reused: count from zero.
            if counters.ios < before.ios or counters.ms < before.ms:
                before = DiskCounters(0, 0)
            ios += counters.ios - before.ios
            ms += counters.ms - before.ms
        self._last = current
        return [
            KernelSample(now, "block_io_latency_ms", ms / ios if ios else 0.0, Source.PROC,
                         count=ios, labels={"devices": devices_label(self.devices)})
        ]  # fmt: skip

    def close(self) -> None:
        self._last = None
