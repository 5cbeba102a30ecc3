from __future__ import annotations

import re
from pathlib import Path

from drills.report.build import build_report
from drills.report.html import render_gameday_html, render_html, render_run_html
from drills.report.model import ChartWindow
from tests.report.fixtures import small, stored, stored_gameday

ROOT = Path(__file__).resolve().parents[2]


def test_report_shades_the_fault_window_and_marks_probe_errors() -> None:
    html = render_html(small())
    chart = html.split('aria-label="probe p"', 1)[1].split("</svg>", 1)[0]
    assert chart.count('class="fault-window"') == 1
    assert chart.count('class="probe-error"') == 1  # one failed sample
    assert "2.50 s (objective 30 s, met)" in html
    assert "2 (1 failed)" in html


def test_report_escapes_names_from_the_playbook() -> None:
    html = render_html(small())
    assert "<b>x</b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html


def test_report_is_self_contained_without_scripts() -> None:
    html = render_html(stored("redis-failover-run"))
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<svg" in html


def test_timeline_is_sentences_not_reprs() -> None:
    html = render_html(stored("redis-failover-run"))
    timeline = html.split("<table class='timeline'>", 1)[1].split("</table>", 1)[0]
    for repr_ in ("sla=", "state=", "collectors=[", "{'", "': "):
        assert repr_ not in timeline
    assert "kernel collectors on db1: tcp_connect (eBPF)" in timeline
    assert "fault applied: network.partition on db1 with nftables" in timeline


def test_kernel_section_shows_what_moved_and_the_appendix_every_series() -> None:
    html = render_html(stored("redis-failover-run"))
    summary = html.split("Kernel evidence</h2>", 1)[1].split("<h2>", 1)[0]
    assert "tcp retransmits: 382 during faults" in summary
    assert "Unchanged: tcp resets sent" in summary
    assert "effect seen" in summary
    appendix = html.split("Appendix: every kernel series", 1)[1].split("<h2>", 1)[0]
    assert appendix.count("<tr>") == 1 + 21  # head and 7 metrics on 3 hosts


def test_report_shows_the_plan_stored_with_the_run() -> None:
    html = render_html(stored("redis-failover-run"))
    plan = html.split("<h2>Plan</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<th>fault</th>" in plan and "Blast radius: db1." in plan


def test_chart_window_bounds_the_charts_around_the_faults() -> None:
    report = build_report(stored("redis-failover-run"), ChartWindow(5, 5))
    fault = report.faults[0]
    assert report.chart_start == round(fault.start_offset - 5, 3)
    assert report.chart_end == round((fault.end_offset or 0) + 5, 3)
    html = render_run_html(report)
    assert "5 s before the first fault to 5 s after the last revert" in html


def test_gameday_report_has_every_drill_its_observations_and_action_items() -> None:
    from drills.report.build import build_gameday_report

    html = render_gameday_html(build_gameday_report(stored_gameday()))
    assert html.count('<section class="drill">') == 2
    assert "Sentinel promoted db2 in about 9 s" in html
    assert "Alert on Sentinel failovers in the on-call channel (bob)" in html
    assert "drill 1 (long-partition) aborted" in html
