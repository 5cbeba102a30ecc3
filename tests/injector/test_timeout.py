"""network.timeout (hold and drop_syn), seen by a client in the peer namespace (needs root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from injector.faults.fault import FaultError
from injector.faults.timeout import TimeoutFault
from injector.protocol import FaultSpec
from tests.injector.netlab import NetPair
from tests.injector.proxy_lab import ECHO_PORT, ProxyLab, nft_tables, proxy_processes


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path))


def timeout(pair: NetPair, mode: str) -> TimeoutFault:
    spec = FaultSpec(run="8", step=3, attempt=1, kind="network.timeout",
                     params={"host": "a", "ports": [ECHO_PORT], "mode": mode})  # fmt: skip
    return TimeoutFault(spec, pair.a)


def probe(lab: ProxyLab, wait: float = 2.0) -> dict[str, str]:
    return lab.client(lab.pair.b, "probe", lab.pair.a, ECHO_PORT, str(wait))


def test_hold_accepts_connections_and_never_answers(netpair: NetPair) -> None:
    with ProxyLab(netpair) as lab:
        lab.serve(netpair.a, "echo", ECHO_PORT)
        assert probe(lab) == {"connect": "ok", "reply": "data"}
        fault = timeout(netpair, "hold")
        fault.apply()
        try:
            assert fault.plan()["mechanism"] == "proxy"
            assert probe(lab, wait=2.0) == {"connect": "ok", "reply": "timeout"}
        finally:
            fault.revert()
        assert probe(lab) == {"connect": "ok", "reply": "data"}
    assert nft_tables(netpair.a) == []
    assert proxy_processes(fault.workdir) == []


def test_drop_syn_makes_connect_time_out(netpair: NetPair) -> None:
    with ProxyLab(netpair) as lab:
        lab.serve(netpair.a, "echo", ECHO_PORT)
        fault = timeout(netpair, "drop_syn")
        fault.apply()
        try:
            assert fault.plan()["mechanism"] == "nftables"
            assert probe(lab, wait=1.5) == {"connect": "timeout"}
        finally:
            fault.revert()
        assert probe(lab) == {"connect": "ok", "reply": "data"}
    assert nft_tables(netpair.a) == []


def test_hold_applied_twice_and_reverted_by_a_fresh_fault_leaves_nothing(netpair: NetPair) -> None:
    fault = timeout(netpair, "hold")
    fault.apply()
    fault.apply()
    assert nft_tables(netpair.a) == ["drillhall_r8_s3"]
    assert len(proxy_processes(fault.workdir)) == 1
    janitor = timeout(netpair, "hold")
    assert janitor.is_active()
    janitor.revert()
    janitor.revert()
    assert not fault.is_active()
    assert nft_tables(netpair.a) == []
    assert proxy_processes(fault.workdir) == []


@pytest.mark.parametrize(
    "params",
    [{"ports": []}, {"ports": [80], "mode": "slow"}, {"ports": ["80"]}, {"ports": [80], "x": 1}],
)
def test_bad_params_are_refused_for_good(params: dict[str, object]) -> None:
    with pytest.raises(FaultError) as err:
        TimeoutFault(FaultSpec("1", 1, 1, "network.timeout", params))
    assert err.value.permanent
