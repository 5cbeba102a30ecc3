"""The JSON Schema of the playbook format, for the editor's validation and completion."""

from __future__ import annotations

from typing import Any

from drills.playbook.durations import format_duration
from drills.playbook.model import Playbook


def json_schema() -> dict[str, Any]:
    schema = Playbook.model_json_schema(by_alias=True, mode="validation")
    schema["title"] = "Drillhall playbook"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    _spell_duration_defaults(schema)
    return schema


def _spell_duration_defaults(node: Any) -> None:
    """Field defaults of durations are floats in the model; the schema shows them as written."""
    if isinstance(node, dict):
        default = node.get("default")
        if "ms|s|m|h" in str(node.get("pattern", "")) and isinstance(default, int | float):
            node["default"] = format_duration(float(default))
        for value in node.values():
            _spell_duration_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _spell_duration_defaults(value)
