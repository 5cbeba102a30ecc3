"""The /proc fallbacks for block_io_latency and runqueue_latency under the same real workloads
as the eBPF collectors: a loop device read with O_DIRECT, a task queued behind a CPU hog."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ebpf.collector import Scope, Source
from ebpf.fallback.diskstats import ProcBlockIoLatency, parse_diskstats
from ebpf.fallback.schedstat import ProcRunqueueLatency, Waits, parse_proc_schedstat
from tests.ebpf.attaching import attached, interval
from tests.ebpf.block_lab import direct_reads, loop_device
from tests.ebpf.proc_lab import Worker, cpu_hogs, last_cpu


@pytest.fixture(scope="module")
def sleeper() -> Iterator[Worker]:
    worker = Worker()
    yield worker
    worker.stop()


def test_proc_block_io_latency_counts_direct_reads_of_a_loop_device(tmp_path: Path) -> None:
    with loop_device(tmp_path) as device:
        scoped = ProcBlockIoLatency(Scope(), devices=frozenset({os.stat(device).st_rdev}))
        with attached(scoped) as collector:
            direct_reads(device, 64)
            busy = interval(collector)["block_io_latency_ms"]
            quiet = interval(collector)["block_io_latency_ms"]
    assert busy.source is Source.PROC
    assert busy.count >= 64, busy
    assert busy.value >= 0.0 and busy.buckets == {}
    assert (quiet.value, quiet.count) == (0.0, 0)


def test_proc_runqueue_latency_rises_for_a_task_queued_behind_cpu_hogs(
    sleeper: Worker,
) -> None:
    cpu = last_cpu()
    with attached(ProcRunqueueLatency(Scope(pids=frozenset({sleeper.pid})))) as collector:
        sleeper.sleep_and_spin(cpu, 1.0)
        alone = interval(collector)["runqueue_latency_ms"]
        with cpu_hogs(cpu, 2.5):
            time.sleep(0.2)
            interval(collector)
            sleeper.sleep_and_spin(cpu, 1.0)
            crowded = interval(collector)["runqueue_latency_ms"]
        quiet = interval(collector)["runqueue_latency_ms"]
    assert alone.source is Source.PROC
    assert alone.count > 10 and crowded.count > 10, (alone, crowded)
    assert crowded.value > 1.5 * alone.value, (alone, crowded)
    assert (quiet.value, quiet.count) == (0.0, 0)


def test_proc_runqueue_latency_of_the_whole_host_sees_tasks_taking_turns() -> None:
    with attached(ProcRunqueueLatency(Scope())) as collector:
        interval(collector)
        with cpu_hogs(last_cpu(), 2.0, count=2):
            time.sleep(0.5)
            # Read while the hogs live: a thread that is gone takes its counters with it.
            sample = interval(collector)["runqueue_latency_ms"]
    # Two hogs sharing one CPU take turns: each waits while the other runs.
    assert sample.source is Source.PROC
    assert sample.count > 0 and sample.value > 0.0, sample


# Pure parsing: this kernel has no /proc/schedstat (CONFIG_SCHEDSTATS unset), others do.
def test_proc_schedstat_sums_run_queue_wait_and_timeslices_over_cpus() -> None:
    text = (
        "version 15\ntimestamp 4295\n"
        "cpu0 0 0 10 2 5 1 900 300 40\ndomain0 3 1 2 3 4 5 6 7 8 9 10 11 12 13 14\n"
        "cpu1 0 0 10 2 5 1 800 200 60\n"
    )
    assert parse_proc_schedstat(text) == Waits(wait_ns=500, slices=100)


def test_diskstats_adds_reads_and_writes_and_their_milliseconds() -> None:
    text = "   7       0 loop0 64 0 512 3 10 0 80 7 0 4 10 0 0 0 0 0 0\n 254  1 vda1 1 2\n"
    counters = parse_diskstats(text)
    assert list(counters) == [(7, 0, "loop0")]
    assert (counters[(7, 0, "loop0")].ios, counters[(7, 0, "loop0")].ms) == (74, 10)
