"""The /proc TCP fallback, read from inside a namespace this module builds, and its mapping."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ebpf.collector import CollectorUnavailable, Scope, Source
from ebpf.fallback.netstat import ProcTcpConnect, ProcTcpResets, ProcTcpRetransmits, parse_counters
from ebpf.netns import netns_inode
from tests.ebpf.tcplab import (
    CLOSED_PORT,
    SERVER_PORT,
    connect_burst,
    listener,
    partitioned,
    require_ebpf_lab,
    retransmit_under_partition,
    values,
)
from tests.injector.netlab import NetPair


@pytest.fixture(scope="module")
def pair() -> Iterator[NetPair]:
    require_ebpf_lab()
    made = NetPair.create()
    try:
        yield made
    finally:
        made.destroy()


def in_ns(name: str) -> Scope:
    return Scope(netns_inodes=frozenset({netns_inode(name)}), netns_name=name)


def test_retransmits_under_partition_show_as_retransmitted_segments(pair: NetPair) -> None:
    collector = ProcTcpRetransmits(in_ns(pair.a))
    collector.attach()
    try:
        assert retransmit_under_partition(pair, collector) > 0
    finally:
        collector.close()


def test_refused_connects_count_as_attempt_failures_and_server_resets(pair: NetPair) -> None:
    client, server = ProcTcpConnect(in_ns(pair.a)), ProcTcpResets(in_ns(pair.b))
    client.attach()
    server.attach()
    try:
        assert connect_burst(pair.a, pair.addr_b, CLOSED_PORT, 4, 1.0) == 0
        now = time.time()
        got, sent = client.read(now), server.read(now)
    finally:
        client.close()
        server.close()
    assert values(got) == {"tcp_connect_attempts": 4, "tcp_connect_failures": 4}
    assert all(s.source is Source.PROC and s.labels["netns"] == pair.a for s in got)
    assert values(sent)["tcp_resets_sent"] == 4


def test_connects_abandoned_under_partition_are_attempts_but_not_failures(pair: NetPair) -> None:
    # The documented limit: AttemptFails counts only what the kernel gave up on.
    server = listener(pair)
    collector = ProcTcpConnect(in_ns(pair.a))
    collector.attach()
    try:
        with partitioned(pair):
            assert connect_burst(pair.a, pair.addr_b, SERVER_PORT, 5, 0.3) == 0
        got = values(collector.read(time.time()))
    finally:
        collector.close()
        server.close()
    assert got == {"tcp_connect_attempts": 5, "tcp_connect_failures": 0}


def test_a_quiet_second_read_is_zeros_and_labels_name_the_counter(pair: NetPair) -> None:
    collector = ProcTcpResets(in_ns(pair.a))
    collector.attach()
    try:
        connect_burst(pair.a, pair.addr_b, CLOSED_PORT, 1, 1.0)
        collector.read(time.time())
        second = collector.read(time.time())
    finally:
        collector.close()
    assert [(s.metric, s.value, s.labels["counter"]) for s in second] == [
        ("tcp_resets_sent", 0, "Tcp:OutRsts"),
        ("tcp_resets_received", 0, "Tcp:EstabResets"),
    ]


def test_a_scope_of_inodes_without_a_namespace_name_is_unavailable(pair: NetPair) -> None:
    collector = ProcTcpConnect(Scope(netns_inodes=frozenset({netns_inode(pair.a)})))
    with pytest.raises(CollectorUnavailable, match="netns_name"):
        collector.attach()


def test_close_twice_is_safe_and_attach_after_close_is_refused(pair: NetPair) -> None:
    collector = ProcTcpRetransmits(in_ns(pair.a))
    collector.attach()
    collector.attach()
    collector.close()
    collector.close()
    with pytest.raises(RuntimeError, match="closed"):
        collector.attach()


def test_parse_counters_pairs_header_and_value_lines() -> None:
    text = "Tcp: ActiveOpens OutRsts\nTcp: 7 3\nUdp: InDatagrams\nUdp: 12\n"
    assert parse_counters(text) == {"Tcp:ActiveOpens": 7, "Tcp:OutRsts": 3, "Udp:InDatagrams": 12}
    with pytest.raises(ValueError, match="unpaired"):
        parse_counters("Tcp: A\nUdp: 1\n")
