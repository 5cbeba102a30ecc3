"""eBPF TCP collectors against real traffic in namespaces this module builds.

Pair 1 is partitioned during some tests, pair 2 never is; collectors are scoped by namespace
inode and compiled once per module (a bcc compile takes about half a second).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ebpf.collector import Scope, Source
from ebpf.netns import netns_inode
from ebpf.tcp import TcpCollector, TcpConnect, TcpResets, TcpRetransmits
from tests.ebpf.tcplab import (
    CLOSED_PORT,
    SERVER_PORT,
    connect_burst,
    drain,
    listener,
    partitioned,
    retransmit_under_partition,
    two_pairs,
    values,
)
from tests.injector.netlab import NetPair

BURST = 20
TIMEOUT = 0.3


@pytest.fixture(scope="module")
def pairs() -> Iterator[tuple[NetPair, NetPair]]:
    with two_pairs() as both:
        yield both


def scoped(*namespaces: str) -> Scope:
    return Scope(netns_inodes=frozenset(netns_inode(ns) for ns in namespaces))


@pytest.fixture(scope="module")
def c(pairs: tuple[NetPair, NetPair]) -> Iterator[dict[str, TcpCollector]]:
    """Attached collectors by role: connect/retransmits/resets in each client namespace, and
    resets in pair 1's server namespace."""
    one, two = pairs
    made: dict[str, TcpCollector] = {
        "connect1": TcpConnect(scoped(one.a)),
        "connect2": TcpConnect(scoped(two.a)),
        "retrans1": TcpRetransmits(scoped(one.a)),
        "retrans2": TcpRetransmits(scoped(two.a)),
        "resets1": TcpResets(scoped(one.a)),
        "resets1_server": TcpResets(scoped(one.b)),
    }
    try:
        for collector in made.values():
            collector.attach()
        yield made
    finally:
        for collector in made.values():
            collector.close()


def test_partition_shows_connect_failures_in_the_client_namespace_only(
    pairs: tuple[NetPair, NetPair], c: dict[str, TcpCollector]
) -> None:
    one, two = pairs
    servers = [listener(one), listener(two)]
    try:
        drain(*c.values())
        with partitioned(one):
            ok1 = connect_burst(one.a, one.addr_b, SERVER_PORT, BURST, TIMEOUT)
        ok2 = connect_burst(two.a, two.addr_b, SERVER_PORT, BURST, TIMEOUT)
        now = time.time()
        got1, got2 = values(c["connect1"].read(now)), values(c["connect2"].read(now))
        retrans2 = values(c["retrans2"].read(now))
    finally:
        for s in servers:
            s.close()
    assert (ok1, ok2) == (0, BURST)
    # Exact counts: neither collector sees the other pair's 20 attempts.
    assert got1["tcp_connect_attempts"] == BURST
    assert got1["tcp_connect_failures"] == BURST
    assert got1["tcp_connects"] == 0
    assert got2["tcp_connect_attempts"] == BURST
    assert got2["tcp_connects"] == BURST
    assert got2["tcp_connect_failures"] == 0
    assert retrans2["tcp_retransmits"] == 0


def test_partition_of_an_established_connection_shows_retransmits_in_its_namespace(
    pairs: tuple[NetPair, NetPair], c: dict[str, TcpCollector]
) -> None:
    one, _ = pairs
    drain(c["retrans1"], c["retrans2"])
    assert retransmit_under_partition(one, c["retrans1"]) > 0
    assert values(c["retrans2"].read(time.time()))["tcp_retransmits"] == 0


def test_refused_connect_shows_reset_received_by_client_and_sent_by_server(
    pairs: tuple[NetPair, NetPair], c: dict[str, TcpCollector]
) -> None:
    one, _ = pairs
    drain(c["resets1"], c["resets1_server"])
    assert connect_burst(one.a, one.addr_b, CLOSED_PORT, 3, 1.0) == 0
    now = time.time()
    client, server = values(c["resets1"].read(now)), values(c["resets1_server"].read(now))
    # The server's RST has no socket behind it: its namespace comes from the packet's device.
    assert client == {"tcp_resets_sent": 0, "tcp_resets_received": 3}
    assert server == {"tcp_resets_sent": 3, "tcp_resets_received": 0}


def test_connect_latency_has_a_sane_mean_and_log2_buckets_in_ms(
    pairs: tuple[NetPair, NetPair], c: dict[str, TcpCollector]
) -> None:
    _, two = pairs
    with listener(two):  # a socket closes itself on leaving the block
        drain(c["connect2"])
        assert connect_burst(two.a, two.addr_b, SERVER_PORT, 5, TIMEOUT) == 5
        samples = c["connect2"].read(time.time())
    (latency,) = [s for s in samples if s.metric == "tcp_connect_latency_ms"]
    assert latency.source is Source.EBPF
    assert latency.count == 5
    assert 0 < latency.value < TIMEOUT * 1000
    assert sum(latency.buckets.values()) == 5
    assert all(0 < bound <= 2**20 / 1000 for bound in latency.buckets)
    # The mean lies below the highest bucket bound it was counted in.
    assert latency.value < max(latency.buckets)


def test_read_starts_a_new_interval_so_a_quiet_second_read_is_all_zeros(
    pairs: tuple[NetPair, NetPair], c: dict[str, TcpCollector]
) -> None:
    _, two = pairs
    with listener(two):
        drain(c["connect2"])
        connect_burst(two.a, two.addr_b, SERVER_PORT, 2, TIMEOUT)
        first = c["connect2"].read(time.time())
        second = c["connect2"].read(time.time())
    assert values(first)["tcp_connects"] == 2
    names = ["tcp_connect_attempts", "tcp_connects", "tcp_connect_failures"]
    assert [s.metric for s in second] == [*names, "tcp_connect_latency_ms"]
    assert all(s.value == 0 and s.count == 0 and not s.buckets for s in second)


def test_each_collector_name_yields_only_its_own_metrics(c: dict[str, TcpCollector]) -> None:
    now = time.time()
    assert [s.metric for s in c["retrans1"].read(now)] == ["tcp_retransmits"]
    assert [s.metric for s in c["resets1"].read(now)] == ["tcp_resets_sent", "tcp_resets_received"]
    assert {c["connect1"].name, c["retrans1"].name, c["resets1"].name} == {
        "tcp_connect",
        "tcp_retransmits",
        "tcp_resets",
    }


def test_attach_twice_is_one_program_and_close_twice_is_safe(
    pairs: tuple[NetPair, NetPair],
) -> None:
    one, _ = pairs
    collector = TcpRetransmits(scoped(one.a))
    collector.attach()
    started = time.monotonic()
    collector.attach()  # already attached: no second compile
    assert time.monotonic() - started < 0.05
    assert values(collector.read(time.time())) == {"tcp_retransmits": 0}
    collector.close()
    collector.close()
    with pytest.raises(RuntimeError, match="closed"):
        collector.attach()
    with pytest.raises(RuntimeError, match="after close"):
        collector.read(time.time())
