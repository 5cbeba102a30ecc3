"""network.dns with a real stub resolver, nftables and dnsmasq in namespaces (needs root).

The client asks the resolver's own address with dig (``dig @resolver``): the fault has to
catch that traffic on the way out, answer only the matching names and pass the rest to the
resolver the client asked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from injector import children
from injector.dnsstub import decide, matches
from injector.faults.dns import CHILD, DnsFault
from injector.faults.fault import FaultError
from injector.protocol import FaultSpec
from tests.conftest import run
from tests.injector.dns_lab import DigResult, DnsLab, dns_lab  # noqa: F401 - the fixture

MATCHING = "cart.shop.internal"
OTHER = "api.example.test"


@pytest.fixture(autouse=True)
def agent_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Workdirs of this test only: no clash with other tests using the same run and step.
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path))


def dns_fault(lab: DnsLab, answer: str, pattern: str = "*.shop.internal") -> DnsFault:
    spec = FaultSpec(run="7", step=4, attempt=1, kind="network.dns",
                     params={"host": "lab", "pattern": pattern, "answer": answer},
                     lease_seconds=30)  # fmt: skip
    return DnsFault(spec, lab.client)


def assert_resolves_normally(lab: DnsLab) -> None:
    for tcp in (False, True):
        assert lab.dig(MATCHING, tcp=tcp).addresses == ("10.1.2.3",)
        assert lab.dig(OTHER, tcp=tcp).addresses == ("10.4.5.6",)


def test_servfail_only_for_the_pattern_over_udp_and_tcp(dns_lab: DnsLab) -> None:  # noqa: F811
    fault = dns_fault(dns_lab, "servfail")
    fault.apply()
    try:
        assert fault.is_active()
        for tcp in (False, True):
            assert dns_lab.dig(MATCHING, tcp=tcp).status == "SERVFAIL"
            assert dns_lab.dig("deep.cart.shop.internal", tcp=tcp).status == "SERVFAIL"
            # Forwarded to the resolver dig asked, which answers as before.
            assert dns_lab.dig(OTHER, tcp=tcp) == DigResult("NOERROR", ("10.4.5.6",))
            assert dns_lab.dig("shop.internal", tcp=tcp).addresses == ("10.1.2.3",)
    finally:
        fault.revert()
    assert not fault.is_active()
    assert_resolves_normally(dns_lab)


def test_nxdomain_only_for_the_pattern(dns_lab: DnsLab) -> None:  # noqa: F811
    fault = dns_fault(dns_lab, "nxdomain", pattern=OTHER)
    fault.apply()
    try:
        assert dns_lab.dig(OTHER).status == "NXDOMAIN"
        assert dns_lab.dig(OTHER.upper()).status == "NXDOMAIN"
        assert dns_lab.dig(MATCHING).addresses == ("10.1.2.3",)
    finally:
        fault.revert()
    assert_resolves_normally(dns_lab)


def test_timeout_leaves_matching_queries_unanswered(dns_lab: DnsLab) -> None:  # noqa: F811
    fault = dns_fault(dns_lab, "timeout")
    assert fault.plan()["mechanism"] == "stub-resolver"
    fault.apply()
    try:
        assert dns_lab.dig(MATCHING).status == "TIMEOUT"
        assert dns_lab.dig(MATCHING, tcp=True).status == "TIMEOUT"
        assert dns_lab.dig(OTHER).addresses == ("10.4.5.6",)
    finally:
        fault.revert()
    assert_resolves_normally(dns_lab)


def test_apply_twice_is_once_and_a_fresh_object_reverts_everything(
    dns_lab: DnsLab,  # noqa: F811
) -> None:
    fault = dns_fault(dns_lab, "servfail")
    fault.apply()
    first = children.read(fault.workdir, CHILD)
    fault.apply()
    assert children.read(fault.workdir, CHILD) == first
    listing = run(["ip", "netns", "exec", dns_lab.client, "nft", "list", "table", "inet",
                   fault.table]).stdout  # fmt: skip
    assert listing.count("redirect") == listing.count("dport 53")
    assert listing.count("udp dport 53") == listing.count("tcp dport 53") >= 1
    assert dns_lab.dig(MATCHING).status == "SERVFAIL"

    # The janitor's view after the agent died: only spec, namespace and workdir.
    janitor_view = dns_fault(dns_lab, "servfail")
    assert janitor_view.is_active()
    janitor_view.revert()
    janitor_view.revert()
    assert first is not None and children.start_time(first.pid) is None
    assert dns_lab.pair.nft_tables(dns_lab.client) == []
    assert not fault.is_active()
    assert_resolves_normally(dns_lab)


def test_revert_stops_a_stub_whose_redirect_was_never_written(
    dns_lab: DnsLab,  # noqa: F811
) -> None:
    # A crash between starting the stub and writing the table leaves only the child.
    fault = dns_fault(dns_lab, "servfail")
    children.spawn(fault.workdir, CHILD, fault.stub_argv(), netns=dns_lab.client)
    assert fault.is_active()
    dns_fault(dns_lab, "servfail").revert()
    assert not children.alive(fault.workdir, CHILD)
    assert not fault.is_active()


@pytest.mark.parametrize(
    "params",
    [
        {"answer": "refused"},
        {"pattern": "*.shop.internal"},
        {"pattern": "bad pattern", "answer": "servfail"},
        {"pattern": "[ab].internal", "answer": "servfail"},
        {"pattern": "*", "answer": "servfail", "ttl": 5},
    ],
)
def test_bad_params_are_refused_for_good(params: dict[str, object]) -> None:
    spec = FaultSpec(run="1", step=1, attempt=1, kind="network.dns", params=params)
    with pytest.raises(FaultError) as caught:
        DnsFault(spec)
    assert caught.value.permanent


def test_glob_matching_ignores_case_and_the_final_dot() -> None:
    assert matches("Cart.Shop.Internal.", "*.shop.internal")
    assert not matches("shop.internal.", "*.shop.internal")
    assert matches("anything.example.", "*")


def test_unparsable_queries_are_forwarded_untouched() -> None:
    assert decide(b"\x00\x01garbage", "*", "servfail").action == "forward"
