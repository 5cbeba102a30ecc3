"""Every example playbook validates, matches the JSON Schema's shape and plans on the lab."""

from __future__ import annotations

from pathlib import Path

import pytest

from drills.engine.plan import resolve_plan
from drills.playbook.parser import parse_file
from tests.example_files import EXAMPLE_PLAYBOOKS
from tests.playbook.inventory import fixture_inventory

EXAMPLES = EXAMPLE_PLAYBOOKS
EXPECTED = {
    "partition-demo",
    "latency",
    "redis-failover",
    "io-delay",
    "dns-outage",
    "http-errors",
}


def test_every_template_is_there() -> None:
    assert EXPECTED <= {path.stem for path in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_validates_and_plans(path: Path) -> None:
    playbook = parse_file(path)
    assert playbook.metadata.name == path.stem
    assert playbook.metadata.description and path.read_text().startswith(("#", "apiVersion"))

    plan = resolve_plan(playbook, fixture_inventory())

    assert plan.hosts, "an example must fault at least one host"
    assert 0 < plan.expected_seconds <= playbook.limits.max_duration
    for _, fault in plan.faults():
        assert fault.params["host"] == fault.host and fault.mechanism


def test_partition_demo_plans_exactly_as_the_agent_expects() -> None:
    # The e2e tests run this example for real: its agent parameters must not drift.
    plan = resolve_plan(parse_file(EXAMPLES[0].parent / "partition-demo.yaml"), fixture_inventory())

    (fault,) = [fault for _, fault in plan.faults()]
    assert fault.params == {"host": "db1", "peers": ["10.77.0.2"], "direction": "both"}
    assert [(s.kind, s.start, s.duration) for s in plan.steps] == [
        ("wait", 0.0, 5.0),
        ("fault", 5.0, 10.0),
    ]
    assert plan.probes[0].url == "http://10.77.0.2:8080/checkout"
