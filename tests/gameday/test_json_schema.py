from __future__ import annotations

import json
from pathlib import Path

from drills.gameday.json_schema import json_schema, render

COMMITTED = Path(__file__).resolve().parents[2] / "schema" / "gameday.schema.json"


def test_committed_schema_is_current() -> None:
    assert COMMITTED.exists() and COMMITTED.read_text() == render(), (
        "schema/gameday.schema.json is out of date; regenerate it with\n"
        "  python -m drills.gameday.json_schema > schema/gameday.schema.json"
    )


def test_schema_uses_yaml_keys_and_spells_durations_as_written() -> None:
    schema = json_schema()
    assert schema["title"] == "Drillhall game day"
    assert {"apiVersion", "kind", "metadata", "drills"} <= set(schema["required"])
    defs = schema["$defs"]
    assert defs["Schedule"]["properties"]["starting_deadline"]["default"] == "10m"
    assert defs["DrillEntry"]["properties"]["version"]["anyOf"][0]["minimum"] == 1
    assert defs["Schedule"]["additionalProperties"] is False
    json.dumps(schema)
