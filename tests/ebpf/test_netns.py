"""Probes sampling from inside a network namespace the test creates."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from ebpf.netns import NetnsError, enter_netns, run_in_netns
from tests.conftest import have_root, require, run
from tests.verifier.probes.dns_server import DnsServer
from tests.verifier.probes.servers import free_port, listen_in, redis_server, scratch_namespace
from verifier.probes.canary import RedisCanary
from verifier.probes.dns_lookup import DnsProbe
from verifier.probes.tcp_port import TcpProbe
from verifier.windows import Sample


@pytest.fixture
def namespace() -> Iterator[str]:
    require(have_root(), "needs root (network namespaces)")
    with scratch_namespace() as name:
        yield name


def sample_from(namespace: str, probe: TcpProbe | DnsProbe) -> Sample:
    # As the engine does: a thread that enters the namespace and stays there.
    out: list[Sample] = []

    def body() -> None:
        enter_netns(namespace)
        out.append(probe.sample())

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(10)
    return out[0]


def test_a_probe_in_the_namespace_reaches_what_only_the_namespace_has(namespace: str) -> None:
    # The namespace's own loopback: the root namespace has nothing on this port.
    port = free_port()
    listener = listen_in(namespace, "127.0.0.1", port)
    try:
        probe = TcpProbe("inside", "127.0.0.1", port, timeout=1.0)
        assert sample_from(namespace, probe).ok
        outside = probe.sample()
        assert not outside.ok and "ConnectionRefused" in (outside.error or "")
    finally:
        listener.close()


def test_an_address_of_the_namespace_is_reachable_from_inside_only(namespace: str) -> None:
    # No dummy driver on this kernel: a veth pair with both ends inside the namespace.
    run(["ip", "-n", namespace, "link", "add", "dh0", "type", "veth", "peer", "name", "dh1"])
    run(["ip", "-n", namespace, "addr", "add", "198.18.213.1/32", "dev", "dh0"])
    run(["ip", "-n", namespace, "link", "set", "dh0", "up"])
    run(["ip", "-n", namespace, "link", "set", "dh1", "up"])
    listener = listen_in(namespace, "198.18.213.1", 0)
    port = listener.getsockname()[1]
    try:
        assert sample_from(namespace, TcpProbe("in", "198.18.213.1", port, 1.0)).ok
        # The root namespace does not own the address; check by looking, not by sending.
        local = run(["ip", "-o", "addr", "show", "to", "198.18.213.1/32"]).stdout
        assert local.strip() == ""
    finally:
        listener.close()


def test_the_namespace_holds_only_for_the_thread_that_entered_it(namespace: str) -> None:
    own = run(["readlink", "/proc/self/ns/net"]).stdout.strip()
    inside = run_in_netns(namespace, lambda: _thread_netns(), timeout=5)
    assert inside != _thread_netns()
    assert _thread_netns() == own  # the caller's thread (and the process) stayed put


def _thread_netns() -> str:
    import os

    return os.readlink(f"/proc/self/task/{threading.get_native_id()}/ns/net")


def test_a_dns_probe_queries_from_inside_the_namespace(namespace: str) -> None:
    # The server's socket lives in the namespace's loopback: only a query sent from inside
    # reaches it; the same address and port in the root namespace answer nothing.
    def bind() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        return sock

    server = DnsServer(run_in_netns(namespace, bind, timeout=5), {"db1.lab": ["10.77.0.3"]}, set())
    try:
        probe = DnsProbe("resolve", "db1.lab", "127.0.0.1", server.port, timeout=0.5)
        inside = sample_from(namespace, probe)
        assert inside.ok and inside.value == 1.0
        outside = probe.sample()
        assert not outside.ok and outside.status is None
    finally:
        server.close()


def test_a_canary_writes_and_verifies_through_the_namespace(namespace: str) -> None:
    # redis-server runs inside the namespace only: the root namespace cannot reach it, so
    # verify() called from this (root) thread must do its reading from inside.
    with redis_server(netns=namespace) as port:
        canary = RedisCanary("c", f"127.0.0.1:{port}", "dh:ns:", timeout=0.5, netns=namespace)
        out: list[Sample] = []

        def body() -> None:
            enter_netns(namespace)
            out.extend(canary.sample() for _ in range(5))

        thread = threading.Thread(target=body)
        thread.start()
        thread.join(10)
        assert [s.ok for s in out] == [True] * 5
        assert not TcpProbe("root", "127.0.0.1", port, 0.5).sample().ok
        canary.close()
        assert canary.verify() == []
        run(["ip", "netns", "exec", namespace, "redis-cli", "-p", str(port), "del", "dh:ns:2"])
        assert [a.seq for a in canary.verify()] == [2]


def test_entering_a_missing_namespace_is_a_clear_error() -> None:
    require(have_root(), "needs root")
    with pytest.raises(NetnsError, match="does not exist"):
        run_in_netns("dhprobe-no-such-namespace", lambda: None, timeout=5)


def test_entering_a_namespace_starts_no_program(namespace: str) -> None:
    # A probe from a host enters its namespace; looking libc up with ctypes.util.find_library
    # ran /sbin/ldconfig (as root, with the orchestrator's whole environment) the first time.
    import os
    import subprocess
    import sys

    from ebpf.collector import CollectorUnavailable
    from ebpf.process_exec import ProcessExec

    witness = ProcessExec()
    try:
        witness.attach()
    except CollectorUnavailable as exc:
        require(False, f"process_exec unavailable: {exc}")
    try:
        code = f"from ebpf.netns import run_in_netns; run_in_netns({namespace!r}, lambda: None)"
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
        assert child.returncode == 0, child.stderr
        started = [e for e in witness.read() if e.descends_from({os.getpid()})]
    finally:
        witness.close()
    assert [e.filename for e in started] == [sys.executable], [e.describe() for e in started]
