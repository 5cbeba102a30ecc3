"""What each network fault loads into nftables, pinned as nft itself lists it (needs root).

Every configuration a network fault can build is applied in a namespace this test creates and
read back with ``nft -j list table``: the kernel's view, whatever form the ruleset was handed
to nft in. ``nft_rulesets.json`` holds those listings as they were when the rulesets were
built as nft text, so building them another way (JSON, since the security review) must load
exactly the same tables. Left out of the comparison: handles (numbering), nft's metainfo
(its version) and comments. nft 1.0.6 (Debian 12) loads a table's comment from text only, so
the JSON rulesets name the fault in a comment on each rule instead;
``test_the_listing_names_the_fault`` checks that the name is there either way.

To re-pin after a deliberate change to a fault's rules:
``DRILLHALL_WRITE_NFT_RULESETS=1 python -m pytest tests/injector/test_nft_rulesets.py``, then
review the diff of ``nft_rulesets.json`` like code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from injector import nft
from injector.faults.dns import DnsFault
from injector.faults.http_error import HttpErrorFault
from injector.faults.latency import LatencyFault
from injector.faults.loss import LossFault
from injector.faults.partition import PartitionFault
from injector.faults.reset import ResetFault
from injector.faults.timeout import TimeoutFault
from injector.protocol import FaultSpec
from tests.conftest import run
from tests.injector.netlab import NetPair

PINNED = Path(__file__).with_name("nft_rulesets.json")
WRITE = os.environ.get("DRILLHALL_WRITE_NFT_RULESETS") == "1"
PROXY_PORT = 41000  # where a proxy or stub would listen; any port does for the listing

V4 = "198.18.0.2"
V4_OTHER = "10.77.0.9"
V6 = "fd00::2"


def spec(step: int, kind: str, **params: object) -> FaultSpec:
    # One step per case, so that every case has a table name of its own.
    return FaultSpec(run="5e", step=step, attempt=3, kind=kind, params=params, lease_seconds=30)


# name -> (table, ruleset as the fault hands it to nft.apply)
Case = Callable[[], tuple[str, Any]]


def partition(step: int, **params: object) -> Case:
    def build() -> tuple[str, Any]:
        fault = PartitionFault(spec(step, "network.partition", **params), None)
        return fault.table, fault.ruleset()

    return build


def loss(step: int, **params: object) -> Case:
    def build() -> tuple[str, Any]:
        fault = LossFault(spec(step, "network.loss", **params), None)
        return fault.table, fault.ruleset()

    return build


def dns(step: int, families: list[str]) -> Case:
    def build() -> tuple[str, Any]:
        fault = DnsFault(spec(step, "network.dns", pattern="*.shop.internal", answer="nxdomain"))
        return fault.table, fault.ruleset(PROXY_PORT, families)

    return build


def redirect(step: int, cls: type, kind: str, proxy_port: int | None, **params: object) -> Case:
    def build() -> tuple[str, Any]:
        fault = cls(spec(step, kind, **params), None)
        return fault.table, fault.ruleset(proxy_port)

    return build


CASES: dict[str, Case] = {
    "partition-both-one-peer": partition(1, peers=[V4]),
    "partition-both-mixed-families-with-ports": partition(
        2, peers=[V4, V6, V4_OTHER], ports=[26379, 6379]
    ),
    "partition-in": partition(3, peers=[V4, V6], direction="in"),
    "partition-out-ipv6-one-port": partition(4, peers=[V6], direction="out", ports=[53]),
    "loss-everything": loss(10, loss=30),
    "loss-everything-all": loss(11, loss=100),
    "loss-everything-none": loss(12, loss=0),
    "loss-destinations-mixed-families": loss(13, loss=2.5, destinations=[V4, V6]),
    "loss-ports": loss(14, loss=50, ports=[40002, 40001]),
    "loss-destinations-and-ports-all": loss(15, loss=100, destinations=[V4], ports=[80]),
    "loss-destinations-none": loss(16, loss=0, destinations=[V4]),
    "dns-ipv4": dns(20, ["ipv4"]),
    "dns-both-families": dns(21, ["ipv4", "ipv6"]),
    "dns-ipv6": dns(22, ["ipv6"]),
    "http-error": redirect(30, HttpErrorFault, "http.error", PROXY_PORT, port=8080),
    "reset-one-port": redirect(40, ResetFault, "network.reset", None, ports=[6379]),
    "reset-ports": redirect(41, ResetFault, "network.reset", None, ports=[443, 80]),
    "latency-destinations-and-ports": redirect(
        50,
        LatencyFault,
        "network.latency",
        PROXY_PORT,
        latency=0.1,
        destinations=[V4, V4_OTHER],
        ports=[5432, 6379],
    ),
    "latency-destinations": redirect(
        51, LatencyFault, "network.latency", PROXY_PORT, latency=0.1, destinations=[V4]
    ),
    "latency-ports": redirect(
        52, LatencyFault, "network.latency", PROXY_PORT, latency=0.1, ports=[6379]
    ),
    "timeout-hold": redirect(60, TimeoutFault, "network.timeout", PROXY_PORT, ports=[80, 8080]),
    "timeout-drop-syn": redirect(
        61, TimeoutFault, "network.timeout", None, ports=[6379], mode="drop_syn"
    ),
}


def _without(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def listing(ns: str, table: str) -> list[dict[str, Any]]:
    """The table as nft lists it in JSON, without handles, comments or metainfo."""
    out = run(["ip", "netns", "exec", ns, "nft", "-j", "list", "table", "inet", table]).stdout
    objects = json.loads(out)["nftables"]
    return [_without(o, frozenset({"handle", "comment"})) for o in objects if "metainfo" not in o]


def pinned_text(everything: dict[str, list[dict[str, Any]]]) -> str:
    """One nft object a line, cases sorted: a re-pin reads as a diff of rules."""
    cases = []
    for name in sorted(everything):
        lines = ",\n".join("  " + json.dumps(o, sort_keys=True) for o in everything[name])
        cases.append(f" {json.dumps(name)}: [\n{lines}\n ]")
    return "{\n" + ",\n".join(cases) + "\n}\n"


def pinned() -> dict[str, Any]:
    return json.loads(PINNED.read_text()) if PINNED.exists() else {}


@pytest.mark.parametrize("name", list(CASES))
def test_the_loaded_table_is_the_pinned_one(
    name: str, netpair: NetPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path))
    table, ruleset = CASES[name]()
    nft.apply(netpair.a, table, ruleset)
    loaded = listing(netpair.a, table)
    # Applied again, the table is replaced, not stacked.
    nft.apply(netpair.a, table, ruleset)
    assert listing(netpair.a, table) == loaded
    if WRITE:
        everything = pinned()
        everything[name] = loaded
        PINNED.write_text(pinned_text(everything))
        return
    expected = pinned().get(name)
    assert expected is not None, f"no pinned listing for {name}: see this module's docstring"
    assert loaded == expected


@pytest.mark.parametrize("name", [n for n in CASES if n != "loss-destinations-none"])
def test_the_listing_names_the_fault(name: str, netpair: NetPair, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    # Whoever runs `nft list ruleset` on a host sees which fault owns a table. (A table with
    # no rule at all, loss 0 % to some destinations, is named by its table name alone.)
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path))
    table, ruleset = CASES[name]()
    nft.apply(netpair.a, table, ruleset)
    text = run(["ip", "netns", "exec", netpair.a, "nft", "list", "table", "inet", table]).stdout
    step = table.rsplit("_s", 1)[1]
    assert f'comment "drillhall fault r5e-s{step}-a3"' in text


def test_every_pinned_listing_has_a_case() -> None:
    # A case dropped from CASES must not leave its listing behind unchecked.
    assert sorted(pinned()) == sorted(CASES)
