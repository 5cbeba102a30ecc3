from __future__ import annotations

import json
from pathlib import Path

from drills.playbook.model import FAULTS
from drills.playbook.schema import json_schema, render

COMMITTED = Path(__file__).resolve().parents[2] / "schema" / "playbook.schema.json"


def test_committed_schema_is_current() -> None:
    assert COMMITTED.exists() and COMMITTED.read_text() == render(), (
        "schema/playbook.schema.json is out of date; regenerate it with\n"
        "  python -m drills.playbook.schema > schema/playbook.schema.json"
    )


def test_schema_is_titled_and_uses_yaml_keys() -> None:
    schema = json_schema()

    assert schema["title"] == "Drillhall playbook"
    assert {"apiVersion", "kind", "metadata", "targets", "probes", "steps"} <= set(
        schema["required"]
    )
    defs = schema["$defs"]
    assert "from" in defs["NetworkPartition"]["properties"]
    assert "assert" in defs["Sla"]["properties"] and "for" in defs["Sla"]["properties"]
    assert all(defs[name]["additionalProperties"] is False for name in ("IoDelay", "TcpSpec"))
    json.dumps(schema)  # serialisable as is


def test_schema_describes_durations_percentages_and_sizes_as_strings() -> None:
    defs = json_schema()["$defs"]

    every = defs["HttpProbe"]["properties"]["every"]
    assert every["type"] == "string" and every["default"] == "500ms"
    assert "ms|s|m|h" in every["pattern"]
    assert "%" in defs["NetworkLoss"]["properties"]["loss"]["pattern"]
    assert "MiB" in defs["StressMemory"]["properties"]["bytes"]["pattern"]


def test_schema_lists_the_whole_fault_catalogue_and_nothing_else() -> None:
    schema = json_schema()
    defs = schema["$defs"]
    fault_union = schema["properties"]["steps"]["items"]["oneOf"][1]["oneOf"]
    names = [
        defs[ref["$ref"].rsplit("/", 1)[1]]["properties"]["fault"]["const"] for ref in fault_union
    ]

    assert names == list(FAULTS)
    assert "UnknownFault" not in defs
    assert defs["Phase"]["enum"] == ["before", "fault", "recovery", "always"]
