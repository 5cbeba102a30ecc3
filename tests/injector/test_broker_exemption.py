"""An agent's own faults never cut its way to the broker: every chain of every fault's table
starts by accepting the agent's broker traffic (injector.nft.broker_exemption), so a partition,
loss or redirect on the agent's host cannot stop the agent hearing the revert of that fault.

Seen from outside on a real partition in a namespace pair (needs root): ping and a TCP
connection to another port are cut, a TCP connection to the broker's address and port is not.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from ebpf.netns import enter_netns
from injector import nft
from injector.faults.partition import PartitionFault
from injector.protocol import FaultSpec
from injector.supervisor import broker_endpoint
from tests.injector.netlab import NetPair

BROKER_PORT = 46379
OTHER_PORT = 46380


def test_the_exemption_accepts_the_broker_both_ways_and_nothing_else() -> None:
    rules = nft.broker_exemption({nft.BROKER_ENV: "10.77.0.1:6379"})
    assert [[s.body for s in rule] for rule in rules] == [
        [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                       "right": "10.77.0.1"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                       "right": 6379}},
            {"accept": None},
        ],
        [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                       "right": "10.77.0.1"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "sport"}},
                       "right": 6379}},
            {"accept": None},
        ],
    ]  # fmt: skip
    v6 = nft.broker_exemption({nft.BROKER_ENV: "[fd00::1]:6380"})
    assert v6[0][0].body["match"]["left"]["payload"]["protocol"] == "ip6"
    for unusable in ("", "redis.example.com:6379", "10.77.0.1", "10.77.0.1:port", "} accept"):
        assert nft.broker_exemption({nft.BROKER_ENV: unusable}) == ()


def test_the_supervisor_names_its_broker_by_address() -> None:
    assert broker_endpoint("redis://10.77.0.1:6412/12") == "10.77.0.1:6412"
    assert broker_endpoint("redis://127.0.0.1/0") == "127.0.0.1:6379"
    assert broker_endpoint("rediss://user:pw@[fd00::1]:6380/0") == "[fd00::1]:6380"
    assert broker_endpoint("redis://localhost:6379/0") in ("127.0.0.1:6379", "[::1]:6379")
    assert broker_endpoint("unix:///run/redis.sock") is None


@pytest.fixture
def listening(netpair: NetPair) -> Iterator[None]:
    """Echo servers in namespace b on the broker's port and on another one."""
    ready = threading.Barrier(2)
    stop = threading.Event()

    def serve() -> None:
        enter_netns(netpair.b)
        servers = []
        for port in (BROKER_PORT, OTHER_PORT):
            server = socket.create_server((netpair.addr_b, port))
            server.settimeout(0.1)
            servers.append(server)
        ready.wait()
        while not stop.is_set():
            for server in servers:
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                with conn:
                    conn.sendall(conn.recv(16))
        for server in servers:
            server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(timeout=5)
    yield
    stop.set()
    thread.join(timeout=5)


def echoes(netpair: NetPair, port: int) -> bool:
    """Whether a TCP connection from namespace a to b's port carries a round trip."""
    answer: list[bytes] = []

    def client() -> None:
        enter_netns(netpair.a)
        try:
            with socket.create_connection((netpair.addr_b, port), timeout=1) as conn:
                conn.sendall(b"ping")
                answer.append(conn.recv(16))
        except OSError:
            pass

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    thread.join(timeout=5)
    return answer == [b"ping"]


def test_a_partition_cuts_everything_but_the_agents_broker(
    netpair: NetPair, listening: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert echoes(netpair, BROKER_PORT) and echoes(netpair, OTHER_PORT)
    monkeypatch.setenv(nft.BROKER_ENV, f"{netpair.addr_b}:{BROKER_PORT}")
    spec = FaultSpec("b7", 1, 1, "network.partition", {"peers": [netpair.addr_b]}, 30)
    fault = PartitionFault(spec, netpair.a)
    fault.apply()
    try:
        assert not netpair.ping(netpair.a, netpair.b, wait=0.5)
        assert not echoes(netpair, OTHER_PORT)
        assert echoes(netpair, BROKER_PORT)
    finally:
        fault.revert()
    assert echoes(netpair, OTHER_PORT)
