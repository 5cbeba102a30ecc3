"""The JSON Schema of the game day format, for editors (yaml-language-server) and completion.

Generated from the model, as the playbook's is (``drills.playbook.schema``); the committed copy
is refreshed with ``python -m drills.gameday.json_schema > schema/gameday.schema.json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from drills.gameday.document import GameDay
from drills.playbook.schema import spell_duration_defaults

SCHEMA_ID = "urn:drillhall:schema:gameday:v1"


def json_schema() -> dict[str, Any]:
    schema = GameDay.model_json_schema(by_alias=True, mode="validation")
    schema["title"] = "Drillhall game day"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    spell_duration_defaults(schema)
    return schema


def render() -> str:
    """The schema as committed: stable key order, trailing newline."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
