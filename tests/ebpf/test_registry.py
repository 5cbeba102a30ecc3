"""ebpf.registry: name -> eBPF class or /proc fallback, attached, with the reason for the choice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drills.playbook.model.collectors import COLLECTORS as PLAYBOOK_NAMES
from drills.playbook.model.references import KERNEL_SERIES
from ebpf import registry
from ebpf.collector import CollectorUnavailable, Scope, Source
from ebpf.netns import netns_inode
from tests.ebpf.tcplab import require_ebpf_lab
from tests.injector.netlab import NetPair


@pytest.fixture(scope="module")
def scope() -> Iterator[Scope]:
    require_ebpf_lab()
    pair = NetPair.create()
    try:
        yield Scope(netns_inodes=frozenset({netns_inode(pair.a)}), netns_name=pair.a)
    finally:
        pair.destroy()


def test_every_playbook_collector_has_an_entry() -> None:
    assert list(registry.COLLECTORS) == list(PLAYBOOK_NAMES)


def test_unknown_name_is_a_key_error_listing_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown kernel collector 'tcp_retransmit'.*tcp_resets"):
        registry.open_collector("tcp_retransmit", Scope())


def test_ebpf_is_used_when_it_works(scope: Scope, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(registry.ENV, raising=False)
    collector, why = registry.open_collector("tcp_connect", scope)
    try:
        assert collector.source is Source.EBPF
        assert why == "eBPF: ebpf.tcp:TcpConnect attached"
    finally:
        collector.close()


def test_ebpf_false_gives_the_attached_proc_fallback_and_says_why(scope: Scope) -> None:
    collector, why = registry.open_collector("tcp_resets", scope, ebpf=False)
    try:
        assert collector.source is Source.PROC
        assert why == "fallback to /proc because eBPF turned off by the caller"
        assert [s.metric for s in collector.read(0.0)] == ["tcp_resets_sent", "tcp_resets_received"]
    finally:
        collector.close()


def test_env_off_forces_the_fallback(scope: Scope, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(registry.ENV, "off")
    collector, why = registry.open_collector("tcp_retransmits", scope)
    collector.close()
    assert collector.source is Source.PROC
    assert why == "fallback to /proc because DRILLHALL_EBPF=off"


def test_a_bad_env_value_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(registry.ENV, "maybe")
    with pytest.raises(registry.SettingError, match="DRILLHALL_EBPF='maybe'"):
        registry.open_collector("tcp_connect", Scope())


def test_a_module_that_does_not_import_falls_back_with_the_reason(
    scope: Scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(registry.ENV, raising=False)
    fallback = registry.COLLECTORS["tcp_connect"][1]
    monkeypatch.setitem(registry.COLLECTORS, "tcp_connect", ("ebpf.not_written:Nope", fallback))
    collector, why = registry.open_collector("tcp_connect", scope)
    collector.close()
    assert collector.source is Source.PROC
    assert why.startswith("fallback to /proc because ebpf.not_written:Nope cannot be imported")
    with pytest.raises(CollectorUnavailable, match="eBPF required"):
        registry.open_collector("tcp_connect", scope, ebpf=True)


def test_no_fallback_and_no_ebpf_is_unavailable(scope: Scope) -> None:
    with pytest.raises(CollectorUnavailable, match="syscall_latency: no /proc fallback"):
        registry.open_collector("syscall_latency", scope, ebpf=False)


def test_choices_name_the_fallback_when_ebpf_is_missing() -> None:
    picks = {c.name: c for c in registry.choices(False, "no bcc")}
    assert picks["tcp_connect"].source is Source.PROC and picks["tcp_connect"].why == "no bcc"
    assert picks["syscall_latency"].source is None


@pytest.mark.parametrize("name", PLAYBOOK_NAMES)
@pytest.mark.parametrize("use_ebpf", [True, False], ids=["ebpf", "proc"])
def test_each_collector_yields_only_the_series_playbooks_may_name(
    name: str, use_ebpf: bool, scope: Scope
) -> None:
    # The playbook validates `kernel.<series>` against KERNEL_SERIES; a collector emitting
    # another name would make an assertion that can never see a sample.
    try:
        collector, _ = registry.open_collector(name, scope, ebpf=use_ebpf)
    except CollectorUnavailable:
        assert not use_ebpf and registry.COLLECTORS[name][1] is None  # no /proc fallback
        return
    try:
        metrics = {sample.metric for sample in collector.read(0.0)}
    finally:
        collector.close()
    assert metrics and metrics <= set(KERNEL_SERIES[name])
    if use_ebpf:
        assert metrics == set(KERNEL_SERIES[name])
