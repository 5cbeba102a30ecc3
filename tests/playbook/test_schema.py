from __future__ import annotations

import json

from drills.playbook.schema import json_schema


def test_schema_is_titled_and_uses_yaml_keys() -> None:
    schema = json_schema()

    assert schema["title"] == "Drillhall playbook"
    assert {"apiVersion", "kind", "metadata", "targets", "probes", "steps"} <= set(
        schema["required"]
    )
    defs = schema["$defs"]
    assert "from" in defs["FaultStep"]["properties"]
    assert "assert" in defs["Sla"]["properties"]
    assert defs["FaultStep"]["additionalProperties"] is False
    json.dumps(schema)  # serialisable as is


def test_schema_describes_durations_as_strings_with_units() -> None:
    props = json_schema()["$defs"]["HttpProbe"]["properties"]

    assert props["every"]["type"] == "string"
    assert props["every"]["default"] == "500ms"
    assert "ms|s|m|h" in props["every"]["pattern"]


def test_schema_lists_the_fault_catalogue_and_phases() -> None:
    defs = json_schema()["$defs"]

    assert defs["FaultStep"]["properties"]["fault"]["const"] == "network.partition"
    assert defs["Phase"]["enum"] == ["before", "fault", "recovery", "always"]
