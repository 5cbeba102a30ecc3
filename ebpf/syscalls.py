"""syscall_latency: how long the scoped processes wait in read / write / fsync, and how often
those calls fail.

Loads ``syscalls.bpf.c`` (syscall tracepoints; pread64 / pwrite64 count as read / write and
fdatasync as fsync). The scope is checked in the kernel: ``Scope.pids`` are process ids
(tgids, so every thread of a listed process counts) and ``Scope.cgroup_ids`` cgroup v2 ids;
a call matching either is kept. An empty scope keeps every process on the host.

Every read yields six samples, zeros included, so a quiet interval is visible as such:
``read_latency_ms``, ``write_latency_ms``, ``fsync_latency_ms`` (mean ms, count, log2
buckets) and ``read_errors``, ``write_errors``, ``fsync_errors`` (negative returns).

A read() waits as long as its file takes to answer, and that includes pipes and sockets: a
process that blocks in read() on a pipe shows that wait. A FUSE layer sits under the VFS, so
an io.delay fault shows up here as it would to the application.

There is no /proc fallback: /proc/<pid>/io counts calls (syscr, syscw) but says nothing of
their latency or errors, so the registry treats syscall_latency as unavailable without eBPF.
"""

from __future__ import annotations

from pathlib import Path

from ebpf import bcc_program
from ebpf.bcc_collector import BccCollector
from ebpf.collector import KernelSample, Source
from ebpf.log2_hist import LatencyTotals

SOURCE = Path(__file__).with_name("syscalls.bpf.c")
OPS = ("read", "write", "fsync")  # index = op number in the C program
TRACEPOINTS = [
    ("syscalls", f"sys_{phase}_{call}")
    for call in ("read", "pread64", "write", "pwrite64", "fsync", "fdatasync")
    for phase in ("enter", "exit")
]


class SyscallLatency(BccCollector):
    name = "syscall_latency"
    program = SOURCE
    tracepoints = TRACEPOINTS
    maps = (b"scope_pids", b"scope_cgroups", b"start", b"totals", b"hist")

    def read(self, now: float) -> list[KernelSample]:
        if self._bpf is None:
            return []
        per_op = {op: LatencyTotals() for op in OPS}
        for key, total in bcc_program.drain(self._bpf[b"totals"]):
            op_index = bcc_program.number(key)
            if op_index < len(OPS):
                summary = per_op[OPS[op_index]]
                summary.count, summary.sum_ns = total.calls, total.sum_ns
                summary.errors = total.errors
        for key, n in bcc_program.drain(self._bpf[b"hist"]):
            if key.op < len(OPS):
                per_op[OPS[key.op]].add_slot(key.slot, bcc_program.number(n))
        samples = [summary.sample(now, f"{op}_latency_ms") for op, summary in per_op.items()]
        for op, summary in per_op.items():
            samples.append(
                KernelSample(now, f"{op}_errors", float(summary.errors), Source.EBPF,
                             count=summary.errors)
            )  # fmt: skip
        return samples
