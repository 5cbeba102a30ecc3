"""Bounded TCP traffic inside test namespaces, and the pieces the TCP collector tests share.

Sockets are made by a thread that entered the namespace (ebpf.netns.run_in_netns) and keep that
namespace afterwards, so the test can drive them from its own thread. Every wait is bounded.
"""

from __future__ import annotations

import itertools
import os
import select
import shutil
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ebpf.collector import Collector, KernelSample
from ebpf.netns import run_in_netns
from injector.faults.partition import PartitionFault
from injector.protocol import FaultSpec
from tests.conftest import have_root, require
from tests.injector.netlab import NetPair

SERVER_PORT = 8080
CLOSED_PORT = 9  # nothing listens there in a fresh namespace
_steps = itertools.count(1)


def require_ebpf_lab() -> None:
    require(have_root(), "eBPF collectors and namespaces need root")
    require(shutil.which("ip") is not None and shutil.which("nft") is not None, "needs ip, nft")
    try:
        import bcc  # noqa: F401
    except Exception as exc:
        require(False, f"needs bcc (python3-bpfcc): {exc}")


def values(samples: list[KernelSample]) -> dict[str, float]:
    return {s.metric: s.value for s in samples}


def drain(*collectors: Collector) -> None:
    """Start a fresh interval on each collector, dropping whatever came before."""
    for c in collectors:
        c.read(time.time())


def listener(pair: NetPair, port: int = SERVER_PORT) -> socket.socket:
    """A listening socket in pair.b on its address (backlog large enough for a burst)."""

    def make() -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((pair.addr_b, port))
        sock.listen(128)
        return sock

    return run_in_netns(pair.b, make)


def connect_burst(ns: str, addr: str, port: int, n: int, timeout: float) -> int:
    """n connects at once from ns, each given at most timeout s; returns how many succeeded.

    Every socket is closed at the end, so a connect still in SYN_SENT is abandoned then.
    """

    def burst() -> list[socket.socket]:
        socks = []
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((addr, port))
            socks.append(s)
        return socks

    socks = run_in_netns(ns, burst)
    ok = 0
    try:
        deadline = time.monotonic() + timeout
        pending = list(socks)
        while pending and (left := deadline - time.monotonic()) > 0:
            _, writable, _ = select.select([], pending, [], left)
            for s in writable:
                pending.remove(s)
                ok += s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    finally:
        for s in socks:
            s.close()
    return ok


@contextmanager
def partitioned(pair: NetPair, inside: str = "") -> Iterator[None]:
    """One side (pair.a unless told) drops everything to and from the other, with the real
    network.partition fault."""
    ns = inside or pair.a
    peer = pair.addr_b if ns == pair.a else pair.addr_a
    spec = FaultSpec(
        run=f"{os.getpid() % 100000:x}",
        step=next(_steps),
        attempt=0,
        kind="network.partition",
        params={"peers": [peer]},
    )
    fault = PartitionFault(spec, netns=ns)
    fault.apply()
    try:
        yield
    finally:
        fault.revert()


def abort(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0) so no FIN handshake outlives the test."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def retransmit_under_partition(pair: NetPair, seen: Collector, wait: float = 3.0) -> float:
    """An ESTABLISHED connection from pair.a sends data while pair.b is partitioned from pair.a.

    The partition sits on the server's side: one in pair.a's own output chain would make each
    retransmission fail to leave (-EPERM), and the kernel counts a retransmit only once it is
    sent. Polls ``seen`` until its tcp_retransmits sum is above zero or wait s pass; returns it.
    """
    port = SERVER_PORT + 1
    server = listener(pair, port)
    client = run_in_netns(pair.a, lambda: socket.create_connection((pair.addr_b, port), 2))
    peer, _ = server.accept()
    total = 0.0
    try:
        with partitioned(pair, inside=pair.b):
            client.send(b"x" * 4096)  # unacknowledged: the peer's ACKs are dropped
            deadline = time.monotonic() + wait
            while total == 0 and time.monotonic() < deadline:
                time.sleep(0.25)
                total += values(seen.read(time.time())).get("tcp_retransmits", 0.0)
    finally:
        abort(client)
        abort(peer)
        server.close()
    return total


@contextmanager
def two_pairs() -> Iterator[tuple[NetPair, NetPair]]:
    """Two namespace pairs of their own (client a, server b), removed afterwards."""
    require_ebpf_lab()
    one = NetPair.create()
    try:
        two = NetPair.create()
    except Exception:
        one.destroy()
        raise
    try:
        yield one, two
    finally:
        one.destroy()
        two.destroy()
