"""ebpf.warm with real bcc programs: compiled on the first run, shared by runs that watch the
same scope at once, kept paused between runs, and scoped anew for the next without compiling;
a paused program counts nothing, what one run left in the maps never reaches the next, and
runs sharing a program each count every event since they joined."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ebpf import bcc_program
from ebpf.collector import Collector, KernelSample, Scope, Source
from ebpf.netns import netns_inode
from ebpf.warm import SharedView, WarmCollectors, merged
from tests.conftest import have_root, require
from tests.ebpf.proc_lab import Worker
from tests.ebpf.tcplab import (
    SERVER_PORT,
    connect_burst,
    listener,
    two_pairs,
    values,
)
from tests.injector.netlab import NetPair

BURST = 5


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The programs bcc compiled during the test."""
    seen: list[str] = []
    real = bcc_program.load_program

    def counting(source: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(source.name)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(bcc_program, "load_program", counting)
    return seen


@pytest.fixture
def pool() -> Iterator[WarmCollectors]:
    warm = WarmCollectors()
    yield warm
    warm.close()


@pytest.fixture(scope="module")
def pairs() -> Iterator[tuple[NetPair, NetPair]]:
    with two_pairs() as both:
        yield both


def connects(pair: NetPair) -> None:
    server = listener(pair)
    try:
        assert connect_burst(pair.a, pair.addr_b, SERVER_PORT, BURST, 2.0) == BURST
    finally:
        server.close()


def attempts(collector: Collector) -> float:
    return values(collector.read(0.0))["tcp_connect_attempts"]


def program(collector: Collector) -> Collector:
    """The compiled program behind a run's share of it."""
    assert isinstance(collector, SharedView)
    return collector.program.collector


def test_a_kept_program_follows_the_next_runs_scope_without_compiling(
    pairs: tuple[NetPair, NetPair], pool: WarmCollectors, compiles: list[str]
) -> None:
    one, two = pairs
    first, why = pool.take("tcp_connect", Scope(netns_inodes=frozenset({netns_inode(one.a)})))
    assert first.source is Source.EBPF, why
    connects(one)
    assert attempts(first) == BURST
    connects(one)  # left in the maps when the run ends: must not reach the next run
    pool.give_back(first)
    assert pool.kept() == ["tcp_connect"] and compiles == ["tcp.bpf.c"]

    second, _ = pool.take("tcp_connect", Scope(netns_inodes=frozenset({netns_inode(two.a)})))
    assert program(second) is program(first) and compiles == ["tcp.bpf.c"]  # not compiled
    assert attempts(second) == 0
    connects(one)  # the last run's namespace: out of scope now
    connects(two)
    assert attempts(second) == BURST
    pool.give_back(second)


def test_a_paused_program_counts_nothing(
    pairs: tuple[NetPair, NetPair], pool: WarmCollectors
) -> None:
    one, _ = pairs
    scope = Scope(netns_inodes=frozenset({netns_inode(one.a)}))
    collector, _ = pool.take("tcp_connect", scope)
    pool.give_back(collector)
    connects(one)
    assert attempts(program(collector)) == 0  # read straight from the paused program's maps
    again, _ = pool.take("tcp_connect", scope)
    connects(one)
    assert program(again) is program(collector) and attempts(again) == BURST
    pool.give_back(again)


def test_runs_at_once_with_one_scope_share_a_program_and_each_counts_every_event(
    pairs: tuple[NetPair, NetPair], pool: WarmCollectors, compiles: list[str]
) -> None:
    one, _ = pairs
    scope = Scope(netns_inodes=frozenset({netns_inode(one.a)}))
    a, _ = pool.take("tcp_connect", scope)
    connects(one)  # before b joins: a's alone
    b, why = pool.take("tcp_connect", scope)
    assert compiles == ["tcp.bpf.c"] and why.endswith("shared with 1 other run")
    connects(one)
    assert attempts(a) == 2 * BURST and attempts(b) == BURST
    connects(one)
    assert attempts(b) == BURST and attempts(a) == BURST  # b's read drained a's share too
    pool.give_back(a)
    assert pool.in_use() == {"tcp_connect": [1]} and pool.kept() == []
    connects(one)
    assert attempts(b) == BURST  # still attached for the run that holds it
    pool.give_back(b)
    assert pool.in_use() == {} and pool.kept() == ["tcp_connect"]


def test_runs_at_once_with_different_scopes_each_get_a_program(
    pairs: tuple[NetPair, NetPair], pool: WarmCollectors, compiles: list[str]
) -> None:
    one, two = pairs
    a, _ = pool.take("tcp_connect", Scope(netns_inodes=frozenset({netns_inode(one.a)})))
    b, _ = pool.take("tcp_connect", Scope(netns_inodes=frozenset({netns_inode(two.a)})))
    assert program(a) is not program(b) and compiles == ["tcp.bpf.c", "tcp.bpf.c"]
    connects(one)
    assert attempts(a) == BURST and attempts(b) == 0
    pool.give_back(a)
    pool.give_back(b)  # one kept per name: the other is closed
    assert pool.kept() == ["tcp_connect"]


def test_merged_intervals_add_counts_and_weigh_latencies_by_their_counts() -> None:
    def latency(mean: float, count: int, buckets: dict[float, int]) -> KernelSample:
        return KernelSample(1.0, "read_latency_ms", mean, Source.EBPF, count=count,
                            buckets=buckets, labels={"op": "read"})  # fmt: skip

    counter = KernelSample(1.0, "tcp_retransmits", 2.0, Source.EBPF, count=2)
    out = merged(
        [counter, latency(1.0, 3, {1.0: 3}), counter, latency(4.0, 1, {4.0: 1}),
         latency(0.0, 0, {})],
        9.0,
    )  # fmt: skip
    by_metric = {s.metric: s for s in out}
    assert by_metric["tcp_retransmits"].value == 4.0 and by_metric["tcp_retransmits"].count == 4
    read = by_metric["read_latency_ms"]
    assert (read.value, read.count, read.buckets) == (1.75, 4, {1.0: 3, 4.0: 1})
    assert read.t == 9.0 and read.labels == {"op": "read"}


def test_a_process_collector_is_rescoped_to_the_next_runs_processes(
    pool: WarmCollectors, compiles: list[str], tmp_path: Path
) -> None:
    require(have_root(), "needs root (eBPF programs)")
    path = tmp_path / "file"
    path.write_bytes(b"x" * 64)
    old, new = Worker(), Worker()
    try:
        first, why = pool.take("syscall_latency", Scope(pids=frozenset({old.pid})))
        assert first.source is Source.EBPF, why
        old.reads(str(path), 7)
        assert _reads(first) == 7
        pool.give_back(first)
        second, _ = pool.take("syscall_latency", Scope(pids=frozenset({new.pid})))
        assert program(second) is program(first) and compiles == ["syscalls.bpf.c"]
        old.reads(str(path), 5)
        new.reads(str(path), 3)
        assert _reads(second) == 3
        pool.give_back(second)
    finally:
        old.stop()
        new.stop()


def _reads(collector: Collector) -> int:
    by_metric = {s.metric: s for s in collector.read(0.0)}
    return by_metric["read_latency_ms"].count


def test_a_scope_that_needs_another_compile_gets_a_new_program(
    pool: WarmCollectors, compiles: list[str]
) -> None:
    require(have_root(), "needs root (eBPF programs)")
    worker = Worker()
    try:
        first, _ = pool.take("runqueue_latency", Scope(pids=frozenset({worker.pid})))
        pool.give_back(first)
        # A host watched whole has no filter compiled in: the kept program cannot serve it.
        second, _ = pool.take("runqueue_latency", Scope())
        assert program(second) is not program(first)
        assert compiles == ["runqueue.bpf.c", "runqueue.bpf.c"]
        pool.give_back(second)
    finally:
        worker.stop()
