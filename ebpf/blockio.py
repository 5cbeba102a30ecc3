"""block_io_latency: how long block requests take from issue to the device to completion.

Loads ``blockio.bpf.c`` (block:block_rq_issue, block:block_rq_complete). Block IO cannot be
scoped by process: a request completes in interrupt context and is often issued by a kernel
worker, so this collector scopes by device instead. ``devices`` are whole-disk device numbers
as ``os.stat(node).st_rdev`` gives them: the block tracepoints report the disk, not the
partition, so a partition's number (``os.stat(path).st_dev`` of a file system on one) never
matches. None means every block device on the host, which is what a drill gets today (the
registry passes only the scope). ``Scope`` pids and cgroups are ignored.

Each read yields one ``block_io_latency_ms`` sample (mean ms, count of requests, log2
buckets), zeros included, labelled with the devices it covers (``7:0`` or ``all``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ebpf import bcc_program
from ebpf.bcc_collector import BccCollector
from ebpf.collector import KernelSample, Scope

SOURCE = Path(__file__).with_name("blockio.bpf.c")
TRACEPOINTS = [("block", "block_rq_issue"), ("block", "block_rq_complete")]
KERNEL_MINOR_BITS = 20  # the kernel's dev_t in tracepoints: major << 20 | minor


def kernel_dev(device: int) -> int:
    """A user-space device number (st_rdev) as the block tracepoints write it."""
    return (os.major(device) << KERNEL_MINOR_BITS) | os.minor(device)


def devices_label(devices: frozenset[int]) -> str:
    if not devices:
        return "all"
    return ",".join(f"{os.major(d)}:{os.minor(d)}" for d in sorted(devices))


class BlockIoLatency(BccCollector):
    name = "block_io_latency"
    program = SOURCE
    tracepoints = TRACEPOINTS
    maps = (b"scope_devices", b"start", b"totals", b"hist")

    def __init__(self, scope: Scope, devices: frozenset[int] = frozenset()) -> None:
        super().__init__(scope)
        self.devices = devices

    def cflags(self) -> list[str]:
        return ["-DFILTER_DEVICES=1"] if self.devices else []

    def fill(self, bpf: Any) -> None:
        bcc_program.fill_set(bpf[b"scope_devices"], (kernel_dev(d) for d in self.devices))

    def read(self, now: float) -> list[KernelSample]:
        if self._bpf is None:
            return []
        labels = {"devices": devices_label(self.devices)}
        return [bcc_program.drain_latency(self._bpf).sample(now, "block_io_latency_ms", labels)]
