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

from drills.playbook.loader import load_yaml
from drills.playbook.model import Playbook
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
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = text
    return out


def renamed(data: dict[str, Any], path: DocPath, text: str) -> dict[str, Any]:
    """A copy of data with the map key at path renamed to text (order kept)."""
    out = copy.deepcopy(data)
    node = out
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
    for variant in batch:
        data = variant.apply(data)
    return data


def batches(accepted: list[Variant]) -> list[list[Variant]]:
    """Accepted variants packed into as few runs as possible: one payload per place per run."""
    by_place: dict[tuple[DocPath, bool], list[Variant]] = {}
    for variant in accepted:
        by_place.setdefault((variant.path, variant.is_key), []).append(variant)
    rounds = max((len(v) for v in by_place.values()), default=0)
    return [[v[i] for v in by_place.values() if i < len(v)] for i in range(rounds)]


# -- what validate says --
ISSUE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>[0-9]+):(?P<column>[0-9]+): (?P<message>.+)$")
