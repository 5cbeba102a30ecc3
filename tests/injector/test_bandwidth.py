"""network.bandwidth against a real tc tbf qdisc in namespaces the test builds (needs root)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from injector.faults.bandwidth import BandwidthFault, burst_bytes, parse_rate
from injector.faults.fault import FaultError
from injector.protocol import FaultSpec
from tests.conftest import run
from tests.injector.netlab import NetPair

PAYLOAD = 2_000_000  # bytes: 4 s at 4 mbit
PORT = 45001

# Independent measurement: the receiver in the peer namespace times the bytes it gets, from
# the first byte to the end of the stream.
RECEIVER = """
import socket, sys, time
srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
srv.settimeout(20)
print("ready", flush=True)
conn, _ = srv.accept()
conn.settimeout(20)
total, first = 0, None
while chunk := conn.recv(65536):
    first = first or time.monotonic()
    total += len(chunk)
print(total, time.monotonic() - first, flush=True)
"""
SENDER = """
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20) as sock:
    sock.sendall(b"x" * int(sys.argv[3]))
"""


@pytest.fixture(autouse=True)
def agent_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Workdirs of this test only: no clash with other tests using the same run and step.
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path))


def bandwidth(pair: NetPair, rate: str = "4mbit") -> BandwidthFault:
    spec = FaultSpec(run="7", step=3, attempt=1, kind="network.bandwidth",
                     params={"host": "lab", "rate": rate}, lease_seconds=30)  # fmt: skip
    return BandwidthFault(spec, pair.a)


def throughput_bps(pair: NetPair, size: int = PAYLOAD) -> float:
    """Bits per second of one TCP transfer from namespace a to namespace b."""
    receiver = subprocess.Popen(  # noqa: S603
        ["ip", "netns", "exec", pair.b, sys.executable, "-c", RECEIVER, pair.addr_b, str(PORT)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert receiver.stdout is not None
        assert receiver.stdout.readline().strip() == "ready"
        run(["ip", "netns", "exec", pair.a, sys.executable, "-c", SENDER, pair.addr_b, str(PORT),
             str(size)], timeout=30)  # fmt: skip
        out, _ = receiver.communicate(timeout=30)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    total, seconds = out.split()
    assert int(total) == size
    return int(total) * 8 / float(seconds)


def root_qdisc(pair: NetPair) -> str:
    return run(
        ["ip", "netns", "exec", pair.a, "tc", "qdisc", "show", "dev", "veth0", "root"]
    ).stdout


def test_bandwidth_caps_throughput_and_is_gone_after_revert(netpair: NetPair) -> None:
    limit = 4_000_000
    fault = bandwidth(netpair)
    fault.apply()
    try:
        assert fault.is_active()
        measured = throughput_bps(netpair)
        assert abs(measured - limit) <= 0.2 * limit, measured
    finally:
        fault.revert()
    assert not fault.is_active()
    assert "tbf" not in root_qdisc(netpair)
    assert throughput_bps(netpair) > 10 * limit


def test_apply_twice_is_once_and_a_fresh_object_reverts_it(netpair: NetPair) -> None:
    fault = bandwidth(netpair, "1mbit")
    fault.apply()
    fault.apply()
    listing = run(["ip", "netns", "exec", netpair.a, "tc", "qdisc", "show", "dev", "veth0"]).stdout
    assert listing.count("tbf") == 1 and fault.handle in listing

    janitor_view = bandwidth(netpair, "1mbit")
    assert janitor_view.is_active()
    janitor_view.revert()
    janitor_view.revert()
    assert not fault.is_active()
    assert "tbf" not in root_qdisc(netpair)


def test_revert_leaves_a_root_qdisc_that_is_not_ours(netpair: NetPair) -> None:
    foreign = ["ip", "netns", "exec", netpair.a, "tc", "qdisc", "add", "dev", "veth0",
               "root", "handle", "1:", "tbf", "rate", "100mbit", "burst", "64kb",
               "latency", "50ms"]  # fmt: skip
    run(foreign)
    fault = bandwidth(netpair)
    with pytest.raises(FaultError, match="not ours"):
        fault.apply()
    fault.revert()
    assert "tbf 1:" in root_qdisc(netpair)


def test_egress_interface_is_the_default_route_device(netpair: NetPair) -> None:
    # A second interface with an address makes "the only one" ambiguous; the default route
    # still names the right one.
    run(["ip", "-n", netpair.a, "link", "add", "extra0", "type", "veth", "peer", "name",
         "extra1"])  # fmt: skip
    run(["ip", "-n", netpair.a, "addr", "add", "192.0.2.1/24", "dev", "extra0"])
    run(["ip", "-n", netpair.a, "link", "set", "extra0", "up"])
    run(["ip", "-n", netpair.a, "link", "set", "extra1", "up"])
    fault = bandwidth(netpair)
    with pytest.raises(FaultError, match="egress interface"):
        fault.apply()
    run(["ip", "-n", netpair.a, "route", "add", "default", "via", netpair.addr_b])
    fault.apply()
    try:
        assert fault.handle in root_qdisc(netpair)
    finally:
        fault.revert()


@pytest.mark.parametrize(
    ("text", "bps"),
    [("512kbit", 512_000), ("1mbit", 1_000_000), ("1.5mbit", 1_500_000), ("1gbit", 10**9)],
)
def test_rates_are_read_in_decimal_units(text: str, bps: int) -> None:
    assert parse_rate(text) == bps


@pytest.mark.parametrize("params", [{}, {"rate": "1mb"}, {"rate": 5}, {"rate": "1kbit"},
                                    {"rate": "1mbit", "loss": 5}])  # fmt: skip
def test_bad_params_are_refused_for_good(params: dict[str, object]) -> None:
    spec = FaultSpec(run="1", step=1, attempt=1, kind="network.bandwidth", params=params)
    with pytest.raises(FaultError) as caught:
        BandwidthFault(spec)
    assert caught.value.permanent


def test_burst_holds_at_least_two_full_frames() -> None:
    assert burst_bytes(512_000) >= 3028
    assert burst_bytes(1_000_000_000) == 1_250_000
