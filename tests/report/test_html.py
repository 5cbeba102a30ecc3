from __future__ import annotations

from pathlib import Path

from drills.report.html import render_html

ROOT = Path(__file__).resolve().parents[2]


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


def kernel(seq: int, t: float, value: float, host: str = "web") -> dict:
    data = {"probe": "kernel.tcp_retransmits", "ok": True, "latency_ms": None, "value": value}
    return {
        "seq": seq,
        "type": "sample",
        "t": t,
        "data": {**data, "host": host, "source": "proc", "at": t},
    }


def test_report_keeps_kernel_series_apart_and_totals_them_inside_and_outside_faults() -> None:
    d = doc()
    d["events"] += [kernel(7, 100.2, 1), kernel(8, 102.0, 5), kernel(9, 102.5, 2)]
    d["events"].sort(key=lambda e: e["t"])
    html = render_html(d)
    assert "Probe samples: 2, errors: 1" in html  # kernel samples are not probe samples
    row = html.split("<td>tcp_retransmits</td>", 1)[1].split("</tr>", 1)[0]
    assert "<td>proc</td><td>7</td><td>1</td>" in row
    assert html.count("<polyline") == 2  # the probe chart and one kernel sparkline


def test_report_says_when_a_fault_had_no_effect() -> None:
    d = doc()
    message = "fault applied, no effect seen: no tcp retransmits on web while it was on"
    d["events"].append(
        {
            "seq": 7,
            "type": "no_effect",
            "t": 104.0,
            "data": {"fault_id": "r1-s2-a1", "message": message},
        }
    )
    html = render_html(d)
    assert "r1-s2-a1: fault applied, no effect seen" in html
    assert "No kernel collectors ran." in html


def test_report_shows_the_plan_stored_with_the_run() -> None:
    from drills.engine.plan import resolve_plan
    from drills.playbook.parser import parse_file
    from tests.engine.fakes import INVENTORY

    playbook = parse_file(ROOT / "tests" / "fixtures" / "playbooks" / "valid" / "minimal.yaml")
    d = doc()
    d["plan"] = resolve_plan(playbook, {**INVENTORY}).to_dict()
    html = render_html(d)
    plan = html.split("<h2>Plan</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<th>fault</th>" in plan and "Blast radius:" in plan
