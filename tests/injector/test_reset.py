"""network.reset: a client in the peer namespace is refused or reset (needs root)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from injector.faults.fault import FaultError
from injector.faults.reset import ResetFault
from injector.protocol import FaultSpec
from tests.injector.netlab import NetPair
from tests.injector.proxy_lab import ECHO_PORT, ROOT, ProxyLab, nft_tables


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path))


def reset(pair: NetPair, ports: list[int] | None = None) -> ResetFault:
    spec = FaultSpec(run="9", step=1, attempt=1, kind="network.reset",
                     params={"host": "a", "ports": ports or [ECHO_PORT]})  # fmt: skip
    return ResetFault(spec, pair.a)


def test_reset_refuses_new_connections_until_reverted(netpair: NetPair) -> None:
    with ProxyLab(netpair) as lab:
        lab.serve(netpair.a, "echo", ECHO_PORT)
        lab.serve(netpair.a, "echo", ECHO_PORT + 1)
        fault = reset(netpair)
        fault.apply()
        try:
            assert lab.client(netpair.b, "probe", netpair.a, ECHO_PORT, "2") == {
                "connect": "refused"
            }
            other = lab.client(netpair.b, "probe", netpair.a, ECHO_PORT + 1, "2")
            assert other == {"connect": "ok", "reply": "data"}
        finally:
            fault.revert()
        after = lab.client(netpair.b, "probe", netpair.a, ECHO_PORT, "2")
        assert after == {"connect": "ok", "reply": "data"}
    assert nft_tables(netpair.a) == []


# Opens a connection, waits for "go" on stdin, then sends again: what the peer answers.
_ESTABLISHED = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
s.sendall(b"1"); assert s.recv(8) == b"1"
print("connected", flush=True); sys.stdin.readline()
try:
    s.sendall(b"2"); print("data" if s.recv(8) else "closed")
except ConnectionResetError:
    print("reset")
except TimeoutError:
    print("timeout")
"""


def test_reset_also_breaks_established_connections(netpair: NetPair) -> None:
    with ProxyLab(netpair) as lab:
        lab.serve(netpair.a, "echo", ECHO_PORT)
        client = subprocess.Popen(  # noqa: S603
            ["ip", "netns", "exec", netpair.b, sys.executable, "-c", _ESTABLISHED,
             netpair.addr_a, str(ECHO_PORT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        fault = reset(netpair)
        try:
            assert client.stdout is not None and client.stdin is not None
            assert client.stdout.readline().strip() == "connected"
            fault.apply()
            out, _ = client.communicate("go\n", timeout=10)
        finally:
            fault.revert()
            if client.poll() is None:
                client.kill()
    assert out.strip() == "reset"


def test_apply_twice_is_once_and_a_fresh_fault_reverts(netpair: NetPair) -> None:
    fault = reset(netpair)
    fault.apply()
    fault.apply()
    rules = subprocess.run(
        ["ip", "netns", "exec", netpair.a, "nft", "list", "table", "inet", fault.table],
        capture_output=True, text=True, check=True, timeout=5,
    ).stdout  # fmt: skip
    assert rules.count("reject with tcp reset") == 1
    reset(netpair).revert()
    assert not fault.is_active()
    assert nft_tables(netpair.a) == []


def test_reset_is_refused_without_ports() -> None:
    with pytest.raises(FaultError) as err:
        ResetFault(FaultSpec("1", 1, 1, "network.reset", {"host": "a"}))
    assert err.value.permanent
