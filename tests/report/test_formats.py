from __future__ import annotations

import json
import re

import jsonschema
import pytest
from junitparser import Failure, JUnitXml, Skipped

from drills.report.build import build_gameday_report, build_report
from drills.report.formats import FORMATS, UnknownFormat, render_report
from drills.report.json_report import json_schema
from tests.report.fixtures import small, stored, stored_gameday


def breached() -> dict:
    doc = small()
    doc["events"][-1]["data"] = {
        "sla": "checkout stays up", "state": "breached", "value": 12.5,
        "reason": "error_rate(checkout, 10s) < 5% is breached (value 12.5)",
    }  # fmt: skip
    doc["result"].update(state="failed", verdicts={"checkout stays up": "breached"})
    return doc


def test_every_format_renders_with_its_type_and_file_name() -> None:
    report = build_report(stored("redis-failover-run"))
    for fmt in FORMATS:
        out = render_report(report, fmt)
        assert out.content and out.filename.startswith("drillhall-redis-failover-run-8.")
    assert render_report(report, "pdf").content.startswith(b"%PDF")
    assert render_report(report, "junit").content_type == "application/xml"
    with pytest.raises(UnknownFormat):
        render_report(report, "docx")


def test_a_report_of_an_old_run_is_identical_whenever_it_is_made() -> None:
    doc = stored("redis-failover-run")
    for fmt in ("html", "json", "junit", "md"):
        first = render_report(build_report(doc), fmt).content
        assert render_report(build_report(json.loads(json.dumps(doc))), fmt).content == first


def test_json_is_the_complete_record_and_validates_against_the_schema() -> None:
    doc = stored("redis-failover-run")
    data = json.loads(render_report(build_report(doc), "json").content)
    jsonschema.validate(data, json_schema())
    assert len(data["events"]) == len(doc["events"])  # samples included
    gameday = json.loads(render_report(build_gameday_report(stored_gameday()), "json").content)
    jsonschema.validate(gameday, json_schema())


def test_junit_has_one_case_per_sla_and_per_proof() -> None:
    report = build_report(stored("redis-failover-run"))
    xml = JUnitXml.fromstring(render_report(report, "junit").content.decode())
    cases = [case for suite in xml for case in suite]
    assert len(cases) == len(report.slas) + len(report.proofs) == 3
    assert {c.name for c in cases} >= {s.name for s in report.slas}
    assert all(c.is_passed for c in cases)


def test_junit_failure_carries_the_first_breach() -> None:
    xml = JUnitXml.fromstring(render_report(build_report(breached()), "junit").content.decode())
    (suite,) = list(xml)
    sla = next(c for c in suite if c.name == "checkout stays up")
    (failure,) = sla.result
    assert isinstance(failure, Failure)
    assert "first breach at +3.5 s (value 12.5)" in failure.message
    assert "is breached (value 12.5)" in failure.text
    assert suite.failures == 1


def test_a_proof_that_cannot_be_judged_is_skipped_not_passed() -> None:
    xml = JUnitXml.fromstring(render_report(build_report(small()), "junit").content.decode())
    proof = next(c for s in xml for c in s if "network.partition" in c.name)
    assert isinstance(proof.result[0], Skipped)  # no collectors ran


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+\.\d+ s|\d+ of \d+ acknowledged writes lost", text))


def test_markdown_and_html_carry_the_same_numbers() -> None:
    report = build_report(stored("redis-failover-run"))
    md = render_report(report, "md").content.decode()
    html = render_report(report, "html").content.decode()
    key = {"8.69 s", "0 of 769 acknowledged writes lost"}
    assert key <= _numbers(md) and key <= _numbers(html)
    for sla in report.slas:
        assert sla.name in md and sla.name in html
    assert "+12.7 s, value 100" in md and "+12.7 s, value 100" in html


def test_no_credential_in_any_sample_reaches_a_report() -> None:
    doc = small()
    secret = "redis://:hunter2secret@db1:6379/0"
    doc["events"] += [
        {"seq": 7, "type": "sample", "t": 104.0,
         "data": {"probe": "p", "ok": False, "latency_ms": None, "error": f"refused: {secret}"}},
        {"seq": 8, "type": "sample", "t": 104.1,
         "data": {"probe": "p", "ok": True, "latency_ms": 1.0, "password": "hunter2secret"}},
    ]  # fmt: skip
    report = build_report(doc)
    for fmt in ("html", "json", "junit", "md"):
        assert b"hunter2secret" not in render_report(report, fmt).content, fmt
