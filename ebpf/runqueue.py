"""runqueue_latency: how long the scoped processes' threads wait runnable before they get a CPU.

Loads ``runqueue.bpf.c`` (sched:sched_wakeup, sched_wakeup_new, sched_switch,
sched_process_exit). ``Scope.pids`` are process ids (tgids): every thread of a listed process
counts, learned in the kernel when the thread leaves a CPU (the wakeup tracepoint names only
the thread), so no list of thread ids has to be kept up to date from user space. New threads
of a scoped process count from their first run; a forked child process does not (it has a
tgid of its own), unless it is scoped through its cgroup. ``Scope.cgroup_ids`` are cgroup v2
ids; an empty scope keeps every task on the host.

Each read yields one ``runqueue_latency_ms`` sample (mean wait in ms, count of waits, log2
buckets), zeros included.
"""

from __future__ import annotations

from pathlib import Path

from ebpf import bcc_program
from ebpf.bcc_collector import BccCollector
from ebpf.collector import KernelSample

SOURCE = Path(__file__).with_name("runqueue.bpf.c")
TRACEPOINTS = [
    ("sched", "sched_wakeup"),
    ("sched", "sched_wakeup_new"),
    ("sched", "sched_switch"),
    ("sched", "sched_process_exit"),
]


class RunqueueLatency(BccCollector):
    name = "runqueue_latency"
    program = SOURCE
    tracepoints = TRACEPOINTS
    maps = (b"scope_pids", b"scope_cgroups", b"sleeping", b"queued", b"totals", b"hist")

    def read(self, now: float) -> list[KernelSample]:
        if self._bpf is None:
            return []
        return [bcc_program.drain_latency(self._bpf).sample(now, "runqueue_latency_ms")]
