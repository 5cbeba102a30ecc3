"""Every place that lists fault kinds lists the same ones, and each kind's parts fit together.

A fault kind is one playbook model (drills/playbook/model/faults.py: parameters, agent
parameters, proof of effect) plus one injector class named in injector/faults/catalogue.py, a
row in docs/faults.md and an example in tests/fault_examples.py. Only end-to-end runs would
otherwise notice one of them missing; this test names the kind and the place instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import Tag

from drills.playbook.model.collectors import COLLECTORS as PLAYBOOK_COLLECTORS
from drills.playbook.model.faults import CATALOGUE, FAULTS, UNKNOWN_FAULT_TAG, Fault, FaultStep
from drills.playbook.model.references import KERNEL_SERIES
from ebpf.registry import COLLECTORS as REGISTRY_COLLECTORS
from injector.faults.catalogue import CATALOGUE_PATHS, fault_class
from injector.faults.fault import FaultError, FaultSpec
from tests.fault_examples import EXAMPLES, planned_example

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "faults.md"
# A row of the catalogue table: "| network.partition | nftables drop ... |".
DOCS_ROW = re.compile(r"^\| ([a-z]+\.[a-z_]+) \|", re.MULTILINE)


def union_models() -> dict[str, type]:
    """Tag -> model of the discriminated union ``Fault``, without the unknown-fault stand-in."""
    union, *_ = get_args(Fault)
    found: dict[str, type] = {}
    for member in get_args(union):
        model, *metadata = get_args(member)
        (tag,) = [item.tag for item in metadata if isinstance(item, Tag)]
        if tag != UNKNOWN_FAULT_TAG:
            found[tag] = model
    return found


def docs_rows() -> list[str]:
    return DOCS_ROW.findall(DOCS.read_text())


# The playbook models (CATALOGUE) are the reference; every other place must list the same kinds.
PLACES: dict[str, Callable[[], list[str]]] = {
    "FaultName / FAULTS (drills/playbook/model/faults.py)": lambda: list(FAULTS),
    "the Fault union (drills/playbook/model/faults.py)": lambda: list(union_models()),
    "CATALOGUE_PATHS (injector/faults/catalogue.py)": lambda: list(CATALOGUE_PATHS),
    "the table in docs/faults.md": docs_rows,
    "EXAMPLES (tests/fault_examples.py)": lambda: list(EXAMPLES),
}
KINDS = sorted(set(CATALOGUE).union(*(place() for place in PLACES.values())))


@pytest.mark.parametrize("place", PLACES)
def test_each_place_lists_exactly_the_kinds_of_the_playbook_models(place: str) -> None:
    listed = PLACES[place]()
    repeated = sorted({kind for kind in listed if listed.count(kind) > 1})
    missing = sorted(set(CATALOGUE) - set(listed))
    extra = sorted(set(listed) - set(CATALOGUE))
    problems = [
        *(f"{place} is missing {kind}, which has a playbook model" for kind in missing),
        *(f"{place} lists {kind}, which has no playbook model (CATALOGUE)" for kind in extra),
        *(f"{place} lists {kind} more than once" for kind in repeated),
    ]
    assert not problems, "\n".join(problems)


def model_of(kind: str) -> type[FaultStep]:
    if kind not in CATALOGUE:
        pytest.fail(f"{kind} has no playbook model in CATALOGUE (drills/playbook/model/faults.py)")
    return CATALOGUE[kind]


def agent_params(kind: str) -> list[dict[str, Any]]:
    """What the model writes for its example step, per host (as planned, not as pinned)."""
    if kind not in EXAMPLES:
        pytest.fail(f"{kind} has no example in tests/fault_examples.py")
    return [fault.params for fault in planned_example(kind).faults]


@pytest.mark.parametrize("kind", KINDS)
def test_the_model_is_the_union_member_for_its_kind(kind: str) -> None:
    model = model_of(kind)
    assert union_models().get(kind) is model, f"the Fault union does not map {kind} to {model}"
    field = model.model_fields["fault"].annotation
    assert get_args(field) == (kind,), f"{model.__name__}.fault is {field}, not {kind}"
    assert model.MECHANISM, f"{model.__name__} ({kind}) names no MECHANISM"


@pytest.mark.parametrize("kind", KINDS)
def test_the_injector_class_runs_exactly_the_params_the_model_writes(kind: str) -> None:
    if kind not in CATALOGUE_PATHS:
        pytest.fail(f"{kind} has no line in CATALOGUE_PATHS (injector/faults/catalogue.py)")
    try:
        cls = fault_class(kind)  # imports the class and checks that its ``kind`` matches
        for params in agent_params(kind):
            cls(FaultSpec(1, 1, 1, kind, params, 30.0))  # validates the params, touches nothing
    except FaultError as exc:
        pytest.fail(f"{kind}: {exc}")


@pytest.mark.parametrize("kind", KINDS)
def test_a_kind_names_proof_collectors_exactly_when_it_has_a_proof_rule(kind: str) -> None:
    model = model_of(kind)
    collectors = model.PROOF_COLLECTORS
    for params in agent_params(kind):
        proof = model.proof(params)
        if not collectors:
            assert proof is None, f"{kind} has a proof rule but names no PROOF_COLLECTORS"
            continue
        assert proof is not None, f"{kind} names PROOF_COLLECTORS {collectors} but no proof rule"
        # The proof can only be seen in series its own collectors record.
        recorded = {series for name in collectors for series in KERNEL_SERIES.get(name, ())}
        unrecorded = sorted({*proof.counters, *proof.histograms} - recorded)
        assert not unrecorded, f"{kind}: {unrecorded} are not recorded by {collectors}"
    for name in collectors:
        assert name in REGISTRY_COLLECTORS, f"{kind}: {name} is not in ebpf/registry.py"
        assert name in PLAYBOOK_COLLECTORS, f"{kind}: {name} is not a playbook collector name"
