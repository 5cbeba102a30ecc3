"""The JSON Schema of the game day format, for editors (yaml-language-server) and completion.

Generated from the model, as the playbook's is (``drills.playbook.schema``); the committed copy
is refreshed with ``python -m drills.gameday.json_schema > schema/gameday.schema.json``.
"""

from __future__ import annotations

import sys
from typing import Any

from drills.gameday.document import GameDay
from drills.playbook.schema import document_schema, rendered

SCHEMA_ID = "urn:drillhall:schema:gameday:v1"


def json_schema() -> dict[str, Any]:
    return document_schema(GameDay, "Drillhall game day", SCHEMA_ID)


def render() -> str:
    """The schema as committed: stable key order, trailing newline."""
    return rendered(json_schema())


if __name__ == "__main__":
    sys.stdout.write(render())
