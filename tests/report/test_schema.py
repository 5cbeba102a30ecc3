from __future__ import annotations

from pathlib import Path

from drills.report.json_report import render_schema

COMMITTED = Path(__file__).resolve().parents[2] / "schema" / "report.schema.json"


def test_committed_report_schema_is_current() -> None:
    assert COMMITTED.exists() and COMMITTED.read_text() == render_schema(), (
        "schema/report.schema.json is out of date; regenerate it with\n"
        "  python -m drills.report.json_report > schema/report.schema.json"
    )
