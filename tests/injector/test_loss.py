"""network.loss against real nftables in namespaces the test builds (needs root)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from injector.faults.fault import FaultError
from injector.faults.loss import LossFault, LossParams, netem_in_config
from injector.protocol import FaultSpec
from tests.conftest import run
from tests.injector.netlab import NetPair

PINGS = 500
_LOSS = re.compile(r"([0-9.]+)% packet loss")


@pytest.fixture(autouse=True)
def agent_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Workdirs of this test only: no clash with other tests using the same run and step.
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path))


def loss_fault(pair: NetPair, **params: object) -> LossFault:
    spec = FaultSpec(run="7", step=2, attempt=1, kind="network.loss",
                     params={"host": "lab", "loss": 30, **params}, lease_seconds=30)  # fmt: skip
    return LossFault(spec, pair.a)


def measured_loss(pair: NetPair, src: str, dst: str, count: int = PINGS) -> float:
    """Percent of echo requests from src to dst left without a reply (ping's own count)."""
    argv = ["ip", "netns", "exec", src, "ping", "-q", "-n", "-c", str(count), "-i", "0.002",
            "-W", "1", pair.address(dst)]  # fmt: skip
    out = run(argv, timeout=30, check=False).stdout
    found = _LOSS.search(out)
    assert found, out
    return float(found.group(1))


def test_loss_drops_about_the_share_asked_and_nothing_after_revert(netpair: NetPair) -> None:
    # b pings a: the fault in a drops a's replies on output, and ping in b counts them.
    fault = loss_fault(netpair)
    assert fault.plan()["mechanism"] == "nftables"  # no netem on these hosts
    fault.apply()
    try:
        assert fault.is_active()
        loss = measured_loss(netpair, netpair.b, netpair.a)
        assert 20 <= loss <= 40, loss
    finally:
        fault.revert()
    assert not fault.is_active()
    assert measured_loss(netpair, netpair.b, netpair.a, count=200) == 0


def test_loss_to_other_destinations_leaves_this_peer_alone(netpair: NetPair) -> None:
    fault = loss_fault(netpair, loss=100, destinations=["198.51.100.7"])
    fault.apply()
    try:
        assert measured_loss(netpair, netpair.b, netpair.a, count=50) == 0
    finally:
        fault.revert()


def test_loss_by_port_spares_other_traffic(netpair: NetPair) -> None:
    fault = loss_fault(netpair, loss=100, ports=[40001])
    fault.apply()
    try:
        assert not netpair.udp_delivered(netpair.a, netpair.b, port=40001)
        assert netpair.udp_delivered(netpair.a, netpair.b, port=40002)
        assert measured_loss(netpair, netpair.b, netpair.a, count=50) == 0
    finally:
        fault.revert()
    assert netpair.udp_delivered(netpair.a, netpair.b, port=40001)


def test_apply_twice_is_once_and_a_fresh_object_reverts_it(netpair: NetPair) -> None:
    fault = loss_fault(netpair, loss=100)
    fault.apply()
    fault.apply()
    listing = run(["ip", "netns", "exec", netpair.a, "nft", "list", "table", "inet",
                   fault.table]).stdout  # fmt: skip
    assert sum("drop" in line for line in listing.splitlines()) == 1
    assert not netpair.ping(netpair.b, netpair.a, wait=0.5)

    # What the janitor does after the agent died: rebuild the fault from spec + netns.
    janitor_view = LossFault(fault.spec, netpair.a)
    assert janitor_view.is_active()
    janitor_view.revert()
    janitor_view.revert()
    assert not fault.is_active()
    assert netpair.nft_tables(netpair.a) == []
    assert not (fault.workdir / "loss.json").exists()
    assert netpair.ping(netpair.b, netpair.a)


@pytest.mark.parametrize(
    "params",
    [
        {"loss": 101},
        {"loss": -1},
        {"loss": "30%"},
        {"loss": True},
        {"loss": 30, "destinations": []},
        {"loss": 30, "destinations": ["not-an-ip"]},
        {"loss": 30, "ports": [0]},
        {"loss": 30, "latency": 0.1},
        {},
    ],
)
def test_bad_params_are_refused_for_good(params: dict[str, object]) -> None:
    with pytest.raises(FaultError) as caught:
        LossParams.parse(params)
    assert caught.value.permanent


def test_loss_threshold_has_hundredth_of_a_percent_resolution() -> None:
    assert LossParams.parse({"loss": 2.5}).threshold == 250
    assert LossParams.parse({"loss": 100}).threshold == 10_000


def test_netem_is_detected_from_the_kernel_config() -> None:
    assert netem_in_config("CONFIG_A=y\nCONFIG_NET_SCH_NETEM=m\n")
    assert not netem_in_config("# CONFIG_NET_SCH_NETEM is not set\n")
