"""runqueue_latency with a real eBPF program: a scoped task that queues behind a CPU hog."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ebpf.collector import Scope, Source
from ebpf.runqueue import RunqueueLatency
from tests.ebpf.attaching import attached, interval
from tests.ebpf.proc_lab import Worker, cpu_hogs, last_cpu

SPIN_SECONDS = 1.0
HOG_SECONDS = 2.5  # outlives the spin; the hog stops by itself even if the test dies


@pytest.fixture(scope="module")
def sleeper() -> Iterator[Worker]:
    worker = Worker()
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def collector(sleeper: Worker) -> Iterator[RunqueueLatency]:
    with attached(RunqueueLatency(Scope(pids=frozenset({sleeper.pid})))) as c:
        yield c


def test_cpu_hogs_on_the_same_cpu_raise_the_runqueue_latency_of_the_scoped_task(
    collector: RunqueueLatency, sleeper: Worker
) -> None:
    cpu = last_cpu()
    interval(collector)
    sleeper.sleep_and_spin(cpu, SPIN_SECONDS)
    alone = interval(collector)["runqueue_latency_ms"]
    with cpu_hogs(cpu, HOG_SECONDS):
        time.sleep(0.2)  # the hog is running before the interval starts
        interval(collector)
        sleeper.sleep_and_spin(cpu, SPIN_SECONDS)
        crowded = interval(collector)["runqueue_latency_ms"]
    assert alone.source is Source.EBPF
    assert alone.count > 10 and crowded.count > 10, (alone, crowded)
    assert crowded.value > 1.5 * alone.value, (alone, crowded)
    assert sum(crowded.buckets.values()) == crowded.count


def test_a_read_with_no_activity_since_the_last_gives_zero(
    collector: RunqueueLatency, sleeper: Worker
) -> None:
    sleeper.sleep_and_spin(last_cpu(), 0.1)
    assert interval(collector)["runqueue_latency_ms"].count > 0
    quiet = interval(collector)["runqueue_latency_ms"]  # the worker sleeps in recv meanwhile
    assert (quiet.value, quiet.count, quiet.buckets) == (0.0, 0, {})


def test_tasks_outside_the_scope_are_not_counted(sleeper: Worker) -> None:
    idle = Worker()  # in the scope, but asleep in recv throughout
    try:
        idle.reads("/dev/null", 1)  # returns once the worker is up and back asleep
        with attached(RunqueueLatency(Scope(pids=frozenset({idle.pid})))) as only_idle:
            interval(only_idle)
            with cpu_hogs(last_cpu(), 1.5):
                sleeper.sleep_and_spin(last_cpu(), 0.5)
            assert interval(only_idle)["runqueue_latency_ms"].count == 0
    finally:
        idle.stop()
