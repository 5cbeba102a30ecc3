"""network.partition against real nftables in namespaces the test builds (needs root)."""

from __future__ import annotations

import pytest

from injector.faults.fault import FaultError
from injector.faults.partition import PartitionFault
from injector.protocol import FaultSpec
from tests.conftest import run
from tests.injector.netlab import NetPair


def partition(pair: NetPair, **params: object) -> PartitionFault:
    spec = FaultSpec(run="4", step=1, attempt=1, kind="network.partition",
                     params={"peers": [pair.addr_b], **params}, lease_seconds=10)  # fmt: skip
    return PartitionFault(spec, pair.a)


def test_partition_drops_both_directions(netpair: NetPair) -> None:
    fault = partition(netpair)
    assert netpair.ping(netpair.a, netpair.b) and netpair.ping(netpair.b, netpair.a)

    fault.apply()
    try:
        assert fault.is_active()
        assert not netpair.ping(netpair.a, netpair.b, wait=0.5)
        assert not netpair.ping(netpair.b, netpair.a, wait=0.5)
        assert not netpair.udp_delivered(netpair.a, netpair.b)
        assert not netpair.udp_delivered(netpair.b, netpair.a)
    finally:
        fault.revert()

    assert not fault.is_active()
    assert netpair.ping(netpair.a, netpair.b) and netpair.ping(netpair.b, netpair.a)


def test_incoming_partition_drops_only_traffic_from_the_peers(netpair: NetPair) -> None:
    # A ping needs both directions (request and reply), so UDP datagrams tell the directions
    # apart: "in" drops what the peer sends to the target, not what the target sends out.
    fault = partition(netpair, direction="in")
    fault.apply()
    try:
        assert not netpair.udp_delivered(netpair.b, netpair.a)
        assert netpair.udp_delivered(netpair.a, netpair.b)
    finally:
        fault.revert()
    assert netpair.udp_delivered(netpair.b, netpair.a)


def test_outgoing_partition_drops_only_traffic_to_the_peers(netpair: NetPair) -> None:
    fault = partition(netpair, direction="out")
    fault.apply()
    try:
        assert not netpair.udp_delivered(netpair.a, netpair.b)
        assert netpair.udp_delivered(netpair.b, netpair.a)
    finally:
        fault.revert()
    assert netpair.udp_delivered(netpair.a, netpair.b)


def test_partition_by_port_leaves_other_ports_alone(netpair: NetPair) -> None:
    fault = partition(netpair, ports=[40001])
    fault.apply()
    try:
        assert not netpair.udp_delivered(netpair.b, netpair.a, port=40001)
        assert netpair.udp_delivered(netpair.b, netpair.a, port=40002)
        assert netpair.ping(netpair.b, netpair.a)
    finally:
        fault.revert()


def test_revert_is_idempotent(netpair: NetPair) -> None:
    fault = partition(netpair)
    fault.revert()  # never applied: still fine
    fault.apply()
    fault.revert()
    fault.revert()
    assert not fault.is_active()
    assert netpair.nft_tables(netpair.a) == []


def test_applying_twice_leaves_one_table_with_one_set_of_rules(netpair: NetPair) -> None:
    fault = partition(netpair)
    fault.apply()
    fault.apply()
    try:
        assert netpair.nft_tables(netpair.a) == [fault.table]
        listing = run(["ip", "netns", "exec", netpair.a, "nft", "list", "table", "inet",
                       fault.table]).stdout  # fmt: skip
        assert listing.count(" drop") == 2  # one in the input chain, one in the output chain
    finally:
        fault.revert()


def test_missing_namespace_is_a_permanent_error_and_nothing_to_revert(needs_root: None) -> None:
    spec = FaultSpec("1", 1, 1, "network.partition", {"peers": ["10.77.0.2"]}, 5)
    fault = PartitionFault(spec, "dht-no-such-namespace")
    with pytest.raises(FaultError) as caught:
        fault.apply()
    assert caught.value.permanent
    fault.revert()
    assert not fault.is_active()
