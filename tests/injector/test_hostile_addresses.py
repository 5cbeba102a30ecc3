"""An agent refuses hostile addresses itself, whatever the orchestrator let through.

The specs here are built directly, as a compromised or buggy orchestrator could send them,
bypassing the playbook model that checks addresses first. Each must be refused for good when
the fault is built, before any nft command runs.
"""

from __future__ import annotations

import ipaddress

import pytest

from injector import nft
from injector.faults.fault import FaultError, build_fault
from injector.protocol import FaultSpec

HOSTILE = [
    "fe80::1%eth0",  # a scope id names an interface, not a peer
    "fe80::1%} accept; } table inet pwn { chain input { type filter hook input priority 0; }",
    "fd00::2%0",
    "198.18.0.2 } accept",
    "198.18.0.0/16",  # a network, where the faults take addresses
    "web",
    3323068418,  # an int ipaddress would take as 198.18.0.2: only strings cross as addresses
]


def params_with(kind: str, address: object) -> dict[str, object]:
    if kind == "network.partition":
        return {"host": "a", "peers": ["198.18.0.3", address]}
    if kind == "network.loss":
        return {"host": "a", "loss": 30, "destinations": ["198.18.0.3", address]}
    return {"host": "a", "latency": 0.1, "destinations": ["198.18.0.3", address]}


@pytest.mark.parametrize("kind", ["network.partition", "network.loss", "network.latency"])
@pytest.mark.parametrize("address", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_address_is_refused_before_nft_runs(
    kind: str, address: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[list[str]] = []

    def recorder(argv: list[str], **_: object) -> str:
        ran.append(argv)
        return ""

    monkeypatch.setattr(nft, "run_command", recorder)
    spec = FaultSpec("5e", 1, 1, kind, params_with(kind, address), 30)
    with pytest.raises(FaultError) as caught:
        build_fault(spec, "dht-never-created")
    assert caught.value.permanent
    assert ran == []


def test_the_ruleset_builder_refuses_a_scoped_address_too() -> None:
    # Defence in depth: a fault that forgot to parse cannot get a scope into a ruleset.
    scoped = ipaddress.IPv6Address("fe80::1%} accept; table inet pwn {")
    with pytest.raises(ValueError, match="scope id"):
        nft.match_addresses("ip6", "saddr", [scoped])


def test_the_ruleset_builder_takes_only_parsed_addresses() -> None:
    with pytest.raises(TypeError):
        nft.match_addresses("ip", "saddr", ["198.18.0.2"])  # type: ignore[list-item]


@pytest.mark.parametrize("run, step", [("5e; add table inet pwn", 1), ("5E", 1), ("5e", -1)])
def test_a_table_name_is_a_run_key_and_a_step_only(run: str, step: int) -> None:
    with pytest.raises(FaultError) as caught:
        nft.table_name(run, step)
    assert caught.value.permanent


def test_no_nft_command_names_a_table_that_is_not_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    # exists() and delete() take a table name from their caller: checked before nft runs.
    ran: list[list[str]] = []
    monkeypatch.setattr(nft, "run_command", lambda argv, **_: ran.append(argv) or "")
    for call in (nft.exists, nft.delete):
        with pytest.raises(FaultError):
            call(None, "filter")
    assert ran == []
