"""The JSON report: the report model as it stands, the complete record (every stored event,
samples included), and its published JSON Schema.

The schema is generated from the model's dataclasses by pydantic, so the document and the
schema cannot drift apart; the committed copy (schema/report.schema.json) is refreshed with
``python -m drills.report.json_report > schema/report.schema.json`` and a test keeps it
current. Keys never disappear: an absent value is null.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import Any

from pydantic import TypeAdapter

from drills.report.model import GameDayReport, RunReport

SCHEMA_ID = "urn:drillhall:schema:report:v1"


@cache
def _adapter() -> TypeAdapter[RunReport | GameDayReport]:
    return TypeAdapter(RunReport | GameDayReport)  # type: ignore[arg-type]


def report_data(report: RunReport | GameDayReport) -> dict[str, Any]:
    return _adapter().dump_python(report, mode="json")  # type: ignore[no-any-return]


def render_json(report: RunReport | GameDayReport) -> str:
    return json.dumps(report_data(report), indent=1, ensure_ascii=False) + "\n"


def json_schema() -> dict[str, Any]:
    schema = _adapter().json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Drillhall report (one run, or a game day's run)",
        **schema,
    }


def render_schema() -> str:
    """The schema as committed: stable key order, trailing newline."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_schema())
