"""Hostile variants of a playbook: which strings the model has, the variants, and their runs.

The base playbook (tests/fixtures/hostile/base.yaml) is walked together with the Playbook
model it parses into, so every string a playbook can hold is found from the models: every
string leaf of the document, and the keys of every map the model declares as ``dict`` (target
names, labels). ``string_fields`` lists every field of the JSON Schema that takes a string,
so a field added to the model without a value in the base fails the test, naming the field.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from drills.engine.plan import HostInfo, PlanError, ServiceInfo, resolve_plan
from drills.lab.topology import DEFAULT_TOPOLOGY
from drills.playbook.errors import PlaybookError
from drills.playbook.loader import load_yaml
from drills.playbook.parser import parse_playbook
from drills.playbook.schema import json_schema

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
BASE = FIXTURES / "base.yaml"
STRINGS = FIXTURES / "strings.json"
EXPECTED_EXECS = FIXTURES / "expected_execs.json"

DocPath = tuple[str | int, ...]
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class Payload:
    name: str
    text: str


def payloads() -> list[Payload]:
    found = []
    for entry in json.loads(STRINGS.read_text())["payloads"]:
        text = entry["text"] if "text" in entry else entry["repeat"][0] * entry["repeat"][1]
        found.append(Payload(entry["name"], text))
    return found


def base_text(values: dict[str, str]) -> str:
    """The base playbook with its placeholders (VICTIM_NAME, SLOW_DIR, ...) filled in."""
    text = BASE.read_text()
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def load(text: str) -> dict[str, Any]:
    """Plain data as the playbook loader reads it (``on`` stays a string, as in playbooks)."""
    data = load_yaml(text, "base.yaml").data
    assert isinstance(data, dict)
    return data


def dump(data: dict[str, Any]) -> str:
    # Every string written as a YAML string: quoted or escaped as needed, never structure.
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)


# -- what the model has --
def _accepts_string(node: dict[str, Any], defs: dict[str, Any]) -> bool:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[1]]
        return target.get("type") == "string"  # an enum such as Phase; models are not strings
    if node.get("type") == "string":
        return True
    if node.get("type") == "array":
        return _accepts_string(node.get("items", {}), defs)
    if node.get("type") == "object" and "additionalProperties" in node:
        return True  # a map: its keys are strings an author chooses
    return any(_accepts_string(n, defs) for key in ("anyOf", "oneOf") for n in node.get(key, []))


def string_fields() -> set[str]:
    """``Model.key`` for every property of the playbook's JSON Schema that holds a string."""
    schema = json_schema()
    defs = schema["$defs"]
    return {
        f"{model}.{key}"
        for model, definition in {**defs, "Playbook": schema}.items()
        for key, node in definition.get("properties", {}).items()
        if _accepts_string(node, defs)
    }


@dataclass
class Walk:
    """The base document's string positions, found through the model it parses into."""

    leaves: list[DocPath]  # every string value
    keys: list[DocPath]  # every key of a model ``dict`` (the path ends with the key)
    covered: set[str]  # Model.key fields whose value in the base holds a string


def walk(data: dict[str, Any]) -> Walk:
    found = Walk([], [], set())
    model = parse_playbook(dump(data), "base.yaml")
    _walk_model(model, data, (), found)
    return found


def _walk_model(model: BaseModel, raw: Any, path: DocPath, found: Walk) -> None:
    assert isinstance(raw, dict), path
    for name, info in type(model).model_fields.items():
        key = info.alias or name
        if key not in raw:
            continue
        value, raw_value = getattr(model, name), raw[key]
        if _holds_string(value, raw_value):
            found.covered.add(f"{type(model).__name__}.{key}")
        _walk_value(value, raw_value, (*path, key), found)


def _walk_value(value: Any, raw: Any, path: DocPath, found: Walk) -> None:
    if isinstance(value, BaseModel):
        _walk_model(value, raw, path, found)
    elif isinstance(raw, str):
        found.leaves.append(path)
    elif isinstance(raw, list):
        items = value if isinstance(value, list) else [None] * len(raw)
        for index, (item, raw_item) in enumerate(zip(items, raw, strict=True)):
            _walk_value(item, raw_item, (*path, index), found)
    elif isinstance(raw, dict):
        # A model's map (a plain dict in the model): its keys are the author's.
        mapping = value if isinstance(value, dict) else {}
        for key, raw_item in raw.items():
            if isinstance(value, dict):
                found.keys.append((*path, key))
            _walk_value(mapping.get(key), raw_item, (*path, key), found)


def _holds_string(value: Any, raw: Any) -> bool:
    """Whether the base's raw value of a field holds a string: itself, an item, or a key of
    one of the model's maps (plain dicts in the model, where sub-models are BaseModels)."""
    if isinstance(raw, str):
        return True
    if isinstance(raw, list):
        values = value if isinstance(value, list) else [None] * len(raw)
        return any(_holds_string(v, r) for v, r in zip(values, raw, strict=True))
    return isinstance(value, dict) and bool(raw)


# -- variants --
def replaced(data: dict[str, Any], path: DocPath, text: str) -> dict[str, Any]:
    """A copy of data with the string at path replaced by text."""
    out = copy.deepcopy(data)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = text
    return out


def renamed(data: dict[str, Any], path: DocPath, text: str) -> dict[str, Any]:
    """A copy of data with the map key at path renamed to text (order kept)."""
    out = copy.deepcopy(data)
    node: Any = out
    for step in path[:-2]:
        node = node[step]
    parent = node[path[-2]]
    node[path[-2]] = {(text if k == path[-1] else k): v for k, v in parent.items()}
    return out


@dataclass(frozen=True)
class Variant:
    path: DocPath
    is_key: bool
    payload: Payload

    @property
    def where(self) -> str:
        spot = ".".join(str(step) for step in self.path)
        return f"{'the key ' if self.is_key else ''}{spot}"

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        change = renamed if self.is_key else replaced
        return change(data, self.path, self.payload.text)


def variants(found: Walk, strings: list[Payload]) -> Iterator[Variant]:
    for payload in strings:
        for path in found.leaves:
            yield Variant(path, False, payload)
        for path in found.keys:
            yield Variant(path, True, payload)


def combined(data: dict[str, Any], batch: list[Variant]) -> dict[str, Any]:
    """data with every variant of batch applied (values first: a renamed key moves them)."""
    for variant in sorted(batch, key=lambda v: v.is_key):
        data = variant.apply(data)
    return data


def spread(data: dict[str, Any], accepted: list[Variant], runs: int) -> list[list[Variant]]:
    """Accepted variants packed into about ``runs`` drills: in each, every place carries one
    of its accepted payloads. A place with more payloads than drills gets the rest joined to a
    drill's one by a space, where the place takes the joined text too (free text does); what
    it does not take gets a drill of its own beyond ``runs``."""
    by_place: dict[tuple[DocPath, bool], list[Variant]] = {}
    for variant in accepted:
        by_place.setdefault((variant.path, variant.is_key), []).append(variant)
    drills: list[list[Variant]] = [[] for _ in range(runs)]
    for items in by_place.values():
        groups: list[list[Variant]] = [[] for _ in range(runs)]
        for index, variant in enumerate(items):
            order = [(index + k) % runs for k in range(runs)]  # round robin, then any fit
            fit = next(
                (
                    g
                    for g in order
                    if not groups[g] or _accepts(_joined([*groups[g], variant]).apply(data))
                ),
                None,
            )
            if fit is None:
                groups.append([variant])
            else:
                groups[fit].append(variant)
        for index, group in enumerate(g for g in groups if g):
            while index >= len(drills):
                drills.append([])
            drills[index].append(_joined(group) if len(group) > 1 else group[0])
    return [batch for batch in drills if batch]


def _joined(group: list[Variant]) -> Variant:
    names = " + ".join(v.payload.name for v in group)
    text = " ".join(v.payload.text for v in group)
    return Variant(group[0].path, group[0].is_key, Payload(names, text))


def _accepts(data: dict[str, Any]) -> bool:
    try:
        parse_playbook(dump(data), "joined.yaml")
    except PlaybookError:
        return False
    return True


def fault_step(data: dict[str, Any], path: DocPath) -> str | None:
    """The plan's path of the fault step ("2", or "2.9" for the 9th child of the 2nd step)
    whose parameter is at path; None when path is not a fault's parameter (a step's name,
    a probe, a target...). A run ends at the first fault that cannot be applied, so the
    faults' parameters are what reaches an agent only if the faults before them applied."""
    if path[:1] != ("steps",) or len(path) < 3:
        return None
    index = path[1]
    assert isinstance(index, int)
    step, where, rest = data["steps"][index], f"{index + 1}", path[2:]
    if rest[0] == "parallel" and isinstance(rest[1], int):
        step, where, rest = step["parallel"][rest[1]], f"{where}.{rest[1] + 1}", rest[2:]
    if not isinstance(step, dict) or "fault" not in step or rest[:1] == ("name",):
        return None
    return where


# -- what the lab's inventory makes of them --
def lab_inventory() -> dict[str, HostInfo]:
    """The lab's hosts as `drillhall lab up` registers them (drills/cli/labctl.py)."""
    from drills.cli.labctl import lab_labels, lab_services
    from injector.protocol import agent_queue

    return {
        host.name: HostInfo(
            host.name,
            host.address,
            agent_queue(host.name),
            host.netns,
            labels=lab_labels(host),
            services=tuple(ServiceInfo(s.name, s.port, s.kind) for s in lab_services(host)),
        )
        for host in DEFAULT_TOPOLOGY.hosts
    }


def plans(data: dict[str, Any], inventory: dict[str, HostInfo]) -> bool:
    """Whether the playbook resolves to a plan on inventory (a run would start at all)."""
    try:
        resolve_plan(parse_playbook(dump(data), "plan.yaml"), inventory)
    except PlanError:
        return False
    return True


# -- what validate says --
ISSUE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>[0-9]+):(?P<column>[0-9]+): (?P<message>.+)$")
