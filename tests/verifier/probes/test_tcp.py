from __future__ import annotations

import socket

from tests.verifier.probes.servers import free_port
from verifier.probes.tcp_port import TcpProbe


def test_tcp_probe_is_ok_with_connect_time_when_a_server_listens() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        sample = TcpProbe("db", "127.0.0.1", port, timeout=1.0).sample()
    assert sample.ok and sample.error is None
    assert sample.probe == "db"
    assert sample.latency_ms is not None and 0 <= sample.latency_ms < 1000


def test_tcp_probe_fails_with_the_reason_when_nothing_listens() -> None:
    sample = TcpProbe("db", "127.0.0.1", free_port(), timeout=1.0).sample()
    assert not sample.ok
    assert sample.error is not None and "ConnectionRefused" in sample.error


def test_tcp_probe_reports_a_timeout_within_its_timeout() -> None:
    # A full backlog makes the kernel drop further SYNs: the connect hangs until the timeout.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        sample = TcpProbe("db", "127.0.0.1", port, timeout=0.3).sample()
    finally:
        for filler in fillers:
            filler.close()
        server.close()
    assert not sample.ok
    assert sample.error is not None and "timed out" in sample.error
    assert sample.latency_ms is not None and 250 <= sample.latency_ms < 1500
