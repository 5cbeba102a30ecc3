"""The JSON Schema of the playbook format, for editors (yaml-language-server) and completion.

Generated from the model; the committed copy is refreshed with
``python -m drills.playbook.schema > schema/playbook.schema.json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel

from drills.playbook.durations import format_duration
from drills.playbook.model import Playbook

# Not a network address: a stable name; the server serves the schema at /schema/playbook.json.
SCHEMA_ID = "urn:drillhall:schema:playbook:v1"


def json_schema() -> dict[str, Any]:
    return document_schema(Playbook, "Drillhall playbook", SCHEMA_ID)


def render() -> str:
    """The schema as committed: stable key order, trailing newline."""
    return rendered(json_schema())


def document_schema(model: type[BaseModel], title: str, schema_id: str) -> dict[str, Any]:
    """The JSON Schema of a document type (the playbook, the game day), keys as written."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    schema["title"] = title
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = schema_id
    spell_duration_defaults(schema)
    return schema


def rendered(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def spell_duration_defaults(node: Any) -> None:
    """Field defaults of durations are floats in the model; the schema shows them as written."""
    if isinstance(node, dict):
        default = node.get("default")
        if "ms|s|m|h" in str(node.get("pattern", "")) and isinstance(default, int | float):
            node["default"] = format_duration(float(default))
        for value in node.values():
            spell_duration_defaults(value)
    elif isinstance(node, list):
        for value in node:
            spell_duration_defaults(value)


if __name__ == "__main__":
    sys.stdout.write(render())
