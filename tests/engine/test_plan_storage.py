"""A plan survives being stored with its run: what the orchestrator, the CLI and the pages read
back is the plan that was resolved when the run was created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drills.engine.plan import Plan, resolve_plan
from drills.playbook.parser import parse_file
from tests.example_files import EXAMPLE_PLAYBOOKS
from tests.playbook.inventory import fixture_inventory

ROOT = Path(__file__).resolve().parents[2]
# Every example, and the fixtures the test inventory can plan (repeats, parallel, selectors).
PLAYBOOKS = [
    *EXAMPLE_PLAYBOOKS,
    *sorted(p for p in (ROOT / "tests" / "fixtures" / "playbooks" / "valid").glob("*.yaml")
            if p.stem != "everything"),  # names hosts outside the test inventory
]  # fmt: skip


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.stem)
def test_a_stored_plan_reads_back_equal(path: Path) -> None:
    plan = resolve_plan(parse_file(path), fixture_inventory())
    stored = json.loads(json.dumps(plan.to_dict()))  # what a JSONField holds
    assert Plan.from_dict(stored) == plan
    assert Plan.from_dict(stored).to_dict() == plan.to_dict()
