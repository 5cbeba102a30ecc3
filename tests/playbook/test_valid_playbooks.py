from __future__ import annotations

from pathlib import Path

import pytest

from drills.playbook.model import (
    FaultStep,
    NetworkPartition,
    ParallelStep,
    PauseStep,
    Playbook,
    RepeatStep,
    SelectorTarget,
    WaitStep,
)
from drills.playbook.parser import parse_file, parse_playbook
from verifier.assertions.syntax import Call, Compare
from verifier.phases import Phase

VALID = Path(__file__).resolve().parent.parent / "fixtures" / "playbooks" / "valid"
DEMO = VALID / "partition-demo.yaml"


@pytest.mark.parametrize("path", sorted(VALID.glob("*.yaml")), ids=lambda p: p.stem)
def test_valid_fixture_parses(path: Path) -> None:
    assert isinstance(parse_file(path), Playbook)


def test_partition_demo_parses_into_typed_steps() -> None:
    playbook = parse_file(DEMO)

    assert playbook.api_version == "drillhall/v1"
    assert playbook.metadata.name == "partition-demo"
    assert playbook.targets["db"].host == "db1"
    probe = playbook.probes[0]
    assert (probe.name, probe.http.url, probe.http.timeout, probe.every) == (
        "checkout",
        "http://web:8080/checkout",
        1.0,
        0.25,
    )
    wait, fault = playbook.steps
    assert isinstance(wait, WaitStep) and wait.wait == 5.0
    assert isinstance(fault, FaultStep)
    assert (fault.fault, fault.target, fault.from_, fault.direction, fault.duration) == (
        "network.partition",
        "db",
        ["web"],
        "both",
        10.0,
    )
    assert [sla.during for sla in playbook.slas] == [Phase.BEFORE, Phase.FAULT, Phase.RECOVERY]
    assert playbook.objectives.rto == 30.0
    assert playbook.limits.max_duration == 600.0


def test_sla_assertions_are_compiled_for_the_verifier() -> None:
    specs = parse_file(DEMO).sla_specs()

    assert [spec.name for spec in specs] == [
        "steady state",
        "checkout fails while db1 is cut off",
        "checkout recovers",
    ]
    during_fault = specs[1].expr
    assert isinstance(during_fault, Compare) and isinstance(during_fault.left, Call)
    assert during_fault.left.func == "error_rate" and during_fault.left.window == 3.0
    assert during_fault.references() == {"checkout"}
    assert specs[1].on_breach == "record"


def test_minimal_playbook_gets_defaults() -> None:
    playbook = parse_file(VALID / "minimal.yaml")

    probe = playbook.probes[0]
    assert probe.every == 0.5 and probe.http.timeout == 1.0 and probe.http.expect_status is None
    assert playbook.slas == [] and playbook.objectives.rto is None
    assert playbook.limits.max_duration == 600.0


def test_dump_uses_yaml_keys_and_validates_again() -> None:
    playbook = parse_file(VALID / "everything.yaml")
    dumped = playbook.model_dump()

    assert dumped["apiVersion"] == "drillhall/v1"
    assert dumped["steps"][1]["from"] == ["app", "cache"]
    assert dumped["steps"][1]["duration"] == "1m"
    assert dumped["slas"][0]["assert"].startswith("p99(")
    assert Playbook.model_validate(dumped) == playbook


def test_models_accept_python_names() -> None:
    step = NetworkPartition(fault="network.partition", target="db", from_=["web"], duration="2s")
    assert step.from_ == ["web"] and step.duration == 2.0 and isinstance(step, FaultStep)


def test_all_sections_parse_into_typed_models() -> None:
    playbook = parse_file(VALID / "all-sections.yaml")

    dbs = playbook.targets["dbs"]
    assert isinstance(dbs, SelectorTarget) and dbs.percent == 40.0 and dbs.count is None
    kinds = [type(step) for step in playbook.steps]
    assert ParallelStep in kinds and PauseStep in kinds and RepeatStep in kinds
    assert len(list(playbook.fault_steps())) == 14
    assert playbook.slas[0].for_ == 5.0
    assert (playbook.objectives.rpo_writes, playbook.objectives.rpo_seconds) == (0, None)
    assert [list(c) for c in playbook.kernel] == [["tcp_retransmits"], ["block_io_latency"]]
    dumped = playbook.model_dump()
    assert dumped["targets"]["dbs"]["percent"] == "40%"
    assert Playbook.model_validate(dumped) == playbook


def test_single_peer_may_be_written_without_a_list() -> None:
    text = (VALID / "partition-demo.yaml").read_text().replace("from: [web]", "from: web")
    step = parse_playbook(text).steps[1]
    assert isinstance(step, NetworkPartition) and step.from_ == ["web"]


def test_rpo_as_a_duration() -> None:
    text = (VALID / "partition-demo.yaml").read_text()
    text = text.replace("  rto: 30s", "  rto: 30s\n  rpo: 5s")
    objectives = parse_playbook(text).objectives
    assert (objectives.rpo_seconds, objectives.rpo_writes) == (5.0, None)


def test_playbook_is_frozen() -> None:
    playbook = parse_file(DEMO)
    with pytest.raises(Exception, match="frozen"):
        playbook.kind = "Other"  # type: ignore[misc]


def test_quoted_assertion_errors_point_inside_the_quotes() -> None:
    text = DEMO.read_text().replace(
        "assert: error_rate(checkout, 3s) < 10%\n    during: before",
        "assert: 'error_rate(checkout, 3s) < 10 %'\n    during: before",
    )
    from drills.playbook.errors import PlaybookError

    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, "demo.yaml")
    (issue,) = caught.value.issues
    # 4 spaces + "assert: " + quote = column 14 for offset 0; '%' is at offset 30.
    assert (issue.line, issue.column) == (24, 14 + 30)
    assert "unexpected character '%'" in issue.message
