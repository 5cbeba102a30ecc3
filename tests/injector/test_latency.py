"""network.latency through the proxy fallback (no netem here), measured by a client in the target.

What is measured: the client in the target namespace connects to an echo server in the peer
namespace (the connect is timed apart: the proxy does not delay it), then times 32-byte round
trips on that one connection. The fault delays what the target sends, so each round trip
should take the baseline plus the latency.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from injector.faults.fault import FaultError
from injector.faults.latency import LatencyFault
from injector.netem import netem_available
from injector.protocol import FaultSpec
from tests.injector.netlab import NetPair
from tests.injector.proxy_lab import ECHO_PORT, ProxyLab, nft_tables, percentile, proxy_processes


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path))


def latency(pair: NetPair, **params: object) -> LatencyFault:
    spec = FaultSpec(run="7", step=2, attempt=1, kind="network.latency",
                     params={"host": "a", "destinations": [pair.addr_b], "latency": 0.1,
                             "jitter": 0.0, **params}, lease_seconds=30)  # fmt: skip
    return LatencyFault(spec, pair.a)


def p50_ms(lab: ProxyLab, count: int = 50) -> float:
    result = lab.client(lab.pair.a, "rtt", lab.pair.b, ECHO_PORT, str(count))
    return percentile(result["rtts"], 0.5) * 1000


def test_latency_adds_100ms_to_each_round_trip_and_is_gone_after_revert(netpair: NetPair) -> None:
    with ProxyLab(netpair) as lab:
        lab.serve(netpair.b, "echo", ECHO_PORT)
        baseline = p50_ms(lab)
        fault = latency(netpair)
        fault.apply()
        try:
            assert fault.plan()["mechanism"] == ("netem" if netem_available(netpair.a) else "proxy")
            during = p50_ms(lab)
        finally:
            fault.revert()
        after = p50_ms(lab)
    assert abs(during - (baseline + 100)) <= 10, (baseline, during)
    assert abs(after - baseline) <= 5, (baseline, after)


def test_jitter_spreads_the_round_trips(netpair: NetPair) -> None:
    with ProxyLab(netpair) as lab:
        lab.serve(netpair.b, "echo", ECHO_PORT)
        fault = latency(netpair, latency=0.08, jitter=0.04)
        fault.apply()
        try:
            rtts = lab.client(netpair.a, "rtt", netpair.b, ECHO_PORT, "30")["rtts"]
        finally:
            fault.revert()
    ms = [r * 1000 for r in rtts]
    # Uniform in [40, 120] ms: 30 samples spread well beyond 20 ms, and stay inside the bounds
    # (plus a little scheduling slack).
    assert percentile(ms, 0.9) - percentile(ms, 0.1) > 20, ms
    assert min(ms) >= 39 and max(ms) <= 135, ms


def test_latency_by_port_leaves_other_ports_alone(netpair: NetPair) -> None:
    with ProxyLab(netpair) as lab:
        lab.serve(netpair.b, "echo", ECHO_PORT)
        lab.serve(netpair.b, "echo", ECHO_PORT + 1)
        fault = LatencyFault(
            FaultSpec("7", 2, 1, "network.latency", {"ports": [ECHO_PORT], "latency": 0.1}),
            netpair.a,
        )
        fault.apply()
        try:
            assert p50_ms(lab, 5) >= 95
            other = lab.client(netpair.a, "rtt", netpair.b, ECHO_PORT + 1, "5")["rtts"]
            assert percentile(other, 0.5) < 0.02
        finally:
            fault.revert()


def test_revert_from_a_fresh_fault_leaves_no_table_and_no_proxy(netpair: NetPair) -> None:
    fault = latency(netpair)
    fault.apply()
    fault.apply()  # a duplicate delivery: still one table, one proxy
    assert nft_tables(netpair.a) == ["drillhall_r7_s2"]
    assert len(proxy_processes(fault.workdir)) == 1

    janitor = latency(netpair)  # what a janitor rebuilds from the spec after a crash
    assert janitor.is_active()
    janitor.revert()
    janitor.revert()
    assert nft_tables(netpair.a) == []
    assert proxy_processes(fault.workdir) == []
    assert not fault.is_active()


def test_netem_detection_leaves_no_probe_link(netpair: NetPair) -> None:
    found = netem_available.__wrapped__(netpair.a)  # uncached: really probe
    assert isinstance(found, bool)
    links = subprocess.run(
        ["ip", "-n", netpair.a, "-o", "link", "show"],
        capture_output=True, text=True, check=True, timeout=5,
    ).stdout  # fmt: skip
    assert "dhnetem" not in links


@pytest.mark.parametrize(
    "params",
    [
        {"latency": 0.1},  # neither destinations nor ports
        {"latency": 0.1, "destinations": ["db1"]},
        {"latency": 0.1, "destinations": ["::1"]},
        {"latency": -1, "ports": [80]},
        {"latency": 0.1, "ports": [0]},
        {"latency": 0.1, "ports": [80], "loss": 5},
    ],
)
def test_bad_params_are_refused_for_good(params: dict[str, object]) -> None:
    spec = FaultSpec("1", 1, 1, "network.latency", {"host": "a", **params})
    with pytest.raises(FaultError) as err:
        LatencyFault(spec)
    assert err.value.permanent
