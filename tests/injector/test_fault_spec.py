from __future__ import annotations

import json
from typing import Any

import pytest

from injector.faults.catalogue import CATALOGUE_PATHS, fault_class
from injector.faults.fault import FaultError, build_fault
from injector.faults.partition import PartitionFault
from injector.protocol import FaultSpec, ProtocolError


def spec(**params: object) -> FaultSpec:
    return FaultSpec(run="7", step=2, attempt=1, kind="network.partition",
                     params={"peers": ["10.77.0.2"], **params}, lease_seconds=5)  # fmt: skip


def test_fault_id_names_run_step_and_attempt() -> None:
    assert spec().fault_id == "r7-s2-a1"


def test_spec_survives_a_json_round_trip() -> None:
    original = spec(direction="in", ports=[80])
    assert FaultSpec.from_json(json.loads(json.dumps(original.to_json()))) == original


@pytest.mark.parametrize(
    "change",
    [
        {"run": 7},
        {"run": "R7"},
        {"run": "7" * 33},
        {"step": -1},
        {"attempt": True},
        {"kind": ""},
        {"params": []},
        {"lease_seconds": 0},
        {"lease_seconds": float("inf")},
        {"lease_seconds": None},
        {"surprise": 1},
    ],
)
def test_malformed_spec_is_refused(change: dict[str, object]) -> None:
    data = {**spec().to_json(), **change}
    with pytest.raises(ProtocolError):
        FaultSpec.from_json(data)


def test_catalogue_holds_the_partition_fault() -> None:
    assert fault_class("network.partition") is PartitionFault
    assert isinstance(build_fault(spec(), "lab-a"), PartitionFault)


def test_kind_outside_the_catalogue_is_refused() -> None:
    outsider = FaultSpec("1", 1, 1, "network.meteor", {}, 5)
    with pytest.raises(FaultError) as caught:
        build_fault(outsider, None)
    assert caught.value.permanent
    assert "network.meteor" in str(caught.value)


def test_fault_error_keeps_permanence_in_its_args() -> None:
    # Celery rebuilds exceptions as cls(*args): permanence must be in args.
    error = FaultError("nope", True)
    rebuilt = FaultError(*error.args)
    assert rebuilt.permanent and str(rebuilt) == "nope"


@pytest.mark.parametrize(
    "params",
    [
        {"peers": []},
        {"peers": "10.77.0.2"},
        {"peers": ["10.77.0.300"]},
        {"peers": ["web"]},
        {"peers": ["10.77.0.2"], "direction": "sideways"},
        {"peers": ["10.77.0.2"], "ports": [0]},
        {"peers": ["10.77.0.2"], "ports": ["80"]},
        {"peers": ["10.77.0.2"], "ports": 80},
        {"peers": ["10.77.0.2"], "latency": "10ms"},
    ],
)
def test_bad_partition_params_are_refused(params: dict[str, object]) -> None:
    bad = FaultSpec("1", 1, 1, "network.partition", params, 5)
    with pytest.raises(FaultError) as caught:
        build_fault(bad, None)
    assert caught.value.permanent


def test_bad_netns_name_is_refused() -> None:
    with pytest.raises(FaultError):
        PartitionFault(spec(), "../../etc")


def rules(document: dict[str, Any], chain: str) -> list[list[dict[str, Any]]]:
    """The statements of each rule the document adds to ``chain``."""
    added = [command["add"] for command in document["nftables"] if "add" in command]
    return [a["rule"]["expr"] for a in added if "rule" in a and a["rule"]["chain"] == chain]


def hooks(document: dict[str, Any]) -> list[str]:
    added = [command["add"] for command in document["nftables"] if "add" in command]
    return [a["chain"]["hook"] for a in added if "chain" in a]


def match(protocol: str, field: str, right: object) -> dict[str, Any]:
    left = {"payload": {"protocol": protocol, "field": field}}
    return {"match": {"op": "==", "left": left, "right": right}}


DROP = {"drop": None}


def test_plan_names_the_table_and_mechanism() -> None:
    plan = PartitionFault(spec(peers=["10.77.0.2", "fd00::2"]), "lab-a").plan()
    assert plan["mechanism"] == "nftables"
    assert plan["artifacts"] == ["nft table inet drillhall_r7_s2"]
    assert plan["peers"] == ["10.77.0.2", "fd00::2"]
    assert plan["direction"] == "both"
    assert [match("ip", "saddr", "10.77.0.2"), DROP] in rules(plan["ruleset"], "input")
    assert [match("ip6", "daddr", "fd00::2"), DROP] in rules(plan["ruleset"], "output")


def test_one_way_partition_has_only_the_input_chain() -> None:
    ruleset = PartitionFault(spec(direction="in"), None).ruleset()
    assert hooks(ruleset) == ["input"]
    assert rules(ruleset, "output") == []


def test_ports_restrict_the_drop_to_flows_on_those_ports() -> None:
    ruleset = PartitionFault(spec(ports=[6379, 26379]), None).ruleset()
    # One rule for each end of the flow, both dropping.
    assert [rule[-2:] for rule in rules(ruleset, "input")] == [
        [match("th", "dport", {"set": [6379, 26379]}), DROP],
        [match("th", "sport", {"set": [6379, 26379]}), DROP],
    ]


def test_the_agent_catalogue_is_the_playbook_catalogue() -> None:
    from drills.playbook.model import FAULTS

    assert set(CATALOGUE_PATHS) == set(FAULTS)
