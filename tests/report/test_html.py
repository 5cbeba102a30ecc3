from __future__ import annotations

from drills.report.html import render_html


def doc() -> dict:
    events = [
        {"seq": 1, "type": "state", "t": 100.0, "data": {"state": "baseline"}},
        {
            "seq": 2,
            "type": "sample",
            "t": 100.5,
            "data": {"probe": "p", "ok": True, "latency_ms": 2.0},
        },
        {"seq": 3, "type": "fault_applied", "t": 101.0, "data": {"fault_id": "r1-s2-a1"}},
        {
            "seq": 4,
            "type": "sample",
            "t": 101.5,
            "data": {"probe": "p", "ok": False, "latency_ms": 500.0},
        },
        {"seq": 5, "type": "fault_reverted", "t": 103.0, "data": {"fault_id": "r1-s2-a1"}},
        {"seq": 6, "type": "verdict", "t": 103.5, "data": {"sla": "<b>x</b>", "state": "passed"}},
    ]
    return {
        "run": {
            "id": 1,
            "playbook": "demo",
            "version": 2,
            "state": "passed",
            "started_at": "s",
            "finished_at": "f",
        },
        "result": {
            "state": "passed",
            "verdicts": {"<b>x</b>": "passed"},
            "rto": 2.5,
            "rto_objective": 30.0,
            "reason": "every SLA held",
        },
        "playbook": "apiVersion: drillhall/v1",
        "events": events,
    }


def test_report_shades_the_fault_window_and_marks_probe_errors() -> None:
    html = render_html(doc())
    assert html.count("<rect") == 1
    assert html.count("<circle") == 1  # one failed sample
    assert "2.50 s (objective 30 s)" in html
    assert "Probe samples: 2, errors: 1" in html


def test_report_escapes_names_from_the_playbook() -> None:
    html = render_html(doc())
    assert "<b>x</b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
