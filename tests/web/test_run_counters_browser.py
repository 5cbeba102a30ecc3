"""The run page's live counters and kernel series in a real browser.

Events go through the real sink (store, then publish) from a separate process with the
current time, as the orchestrator writes them; the page's RTO counter must move on its own
between events, and a reload (a replay of the stored stream) must show the same state.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium_page
from tests.web.site import Site, log_seqs, open_run_page, run_site, wait_for_seq

PASSWORD = "counter-Pass-1"

FAULT = {"step": 2, "fault_id": "r1-s2-a1", "host": "db1", "kind": "network.partition"}
RUNNING = re.compile(r"(\d+\.\d) s… \((\w+)\)")


def state(new: str, previous: str, t: float) -> list[Any]:
    return ["state", {"state": new, "previous": previous}, t]


def sample(probe: str, ok: bool, t: float, **extra: Any) -> list[Any]:
    data = {
        "probe": probe,
        "ok": ok,
        "latency_ms": 2.0 if ok else None,
        "status": None,
        "error": None if ok else "refused",
    }
    return ["sample", {**data, **extra}, t]


def kernel(probe: str, host: str, source: str, value: float, t: float) -> list[Any]:
    data = {"probe": probe, "ok": True, "latency_ms": None, "status": None, "error": None}
    return ["sample", {**data, "value": value, "host": host, "source": source}, t]


@pytest.fixture
def site(tmp_path: Path, needs_redis: str) -> Iterator[Site]:
    with run_site(tmp_path, needs_redis, "olive", PASSWORD) as s:
        yield s


@pytest.fixture
def page(site: Site) -> Iterator[Any]:
    with chromium_page(timeout_ms=15_000) as page:
        open_run_page(page, site, "olive", PASSWORD)
        yield page


def running_rto(page: Any) -> tuple[float, str]:
    """(seconds, state) of the live RTO counter; fails if it is not running."""
    text = page.inner_text("#rto")
    match = RUNNING.fullmatch(text)
    assert match, text
    return float(match.group(1)), match.group(2)


def wait_rto_state(page: Any, state: str) -> None:
    page.wait_for_function(f"document.querySelector('#rto').textContent.endsWith('({state})')")


@pytest.mark.browser
@pytest.mark.timeout(90)
def test_the_rto_counter_ticks_from_the_fault_until_the_result_fixes_it(site: Site, page: Any):
    fault_at = time.time()
    site.emit(
        [
            state("preflight", "pending", fault_at - 2.0),
            state("baseline", "preflight", fault_at - 1.9),
            state("injecting", "baseline", fault_at - 0.1),
            ["fault_applied", {**FAULT, "mechanism": "nftables", "params": {}}, fault_at],
            state("observing", "injecting", fault_at + 0.01),
        ]
    )
    wait_rto_state(page, "observing")
    events = log_seqs(page)
    first, _ = running_rto(page)
    page.wait_for_timeout(1200)
    later, _ = running_rto(page)
    assert log_seqs(page) == events  # no event came: the clock moved it
    assert 0.8 <= later - first <= 2.5

    now = time.time()
    site.emit(
        [
            ["fault_reverted", {**FAULT, "state": "reverted"}, now],
            state("reverting", "observing", now),
            state("recovering", "reverting", now + 0.01),
        ]
    )
    wait_rto_state(page, "recovering")
    # A reload replays the stream: the counter goes on from the same origin, the fault.
    page.reload()
    wait_rto_state(page, "recovering")
    replayed, _ = running_rto(page)
    assert abs(replayed - (time.time() - fault_at)) < 1.0
    page.wait_for_timeout(600)
    assert running_rto(page)[0] > replayed

    now = time.time()
    result = {
        "state": "passed",
        "verdicts": {"checkout recovers": "passed"},
        "rto": 2.5,
        "rto_objective": 30.0,
        "reason": "every SLA held",
    }
    site.emit([state("passed", "recovering", now), ["result", result, now + 0.01]])
    page.wait_for_function("document.querySelector('#rto').textContent === '2.5 s'")
    page.wait_for_timeout(500)
    assert page.inner_text("#rto") == "2.5 s"  # fixed: the ticking stopped
    assert page.inner_text("#rto-objective") == "objective 30.0 s"
    page.reload()
    wait_for_seq(page, 10)
    assert page.inner_text("#rto") == "2.5 s"
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.browser
@pytest.mark.timeout(90)
def test_the_rpo_counter_counts_canary_writes_until_the_rpo_event(site: Site, page: Any):
    t = time.time()
    site.emit(
        [
            state("preflight", "pending", t),
            state("baseline", "preflight", t + 0.1),
            # A failed write before the first acknowledged one still counts once the probe
            # shows itself a canary; the HTTP probe's failure is not a write.
            sample("orders", False, t + 0.2),
            *[sample("orders", True, t + 0.3 + i / 10, seq=i) for i in range(1, 6)],
            sample("orders", False, t + 0.9),
            sample("checkout", False, t + 1.0),
        ]
    )
    wait_for_seq(page, 10)
    expected = "5 acknowledged, 2 failed writes so far…"
    assert page.inner_text("#rpo") == expected
    assert page.get_attribute("#rpo", "data-acknowledged") == "5"
    assert page.get_attribute("#rpo", "data-failed") == "2"
    page.reload()  # the replay gives the same counts
    wait_for_seq(page, 10)
    assert page.inner_text("#rpo") == expected

    rpo = {
        "acknowledged": 5,
        "lost": 1,
        "span_seconds": 0.4,
        "first_lost_at": t + 0.7,
        "error": None,
    }
    site.emit([["rpo", rpo, time.time()]])
    wait_for_seq(page, 11)
    assert page.inner_text("#rpo") == "1 of 5 acknowledged writes lost (over 0.4 s)"
    assert page.errors == []  # type: ignore[attr-defined]


def legend(page: Any, chart: str) -> list[str]:
    return page.eval_on_selector_all(
        f"{chart} .u-legend .u-series .u-label", "els => els.map(e => e.textContent)"
    )


def kernel_charts(page: Any) -> dict[str, list[str]]:
    """Each shown kernel chart: its metric and its series' labels, in page order."""
    return page.eval_on_selector_all(
        "#kernel-charts .kernel-metric",
        """figures => Object.fromEntries(figures
            .filter(f => f.offsetParent !== null)
            .map(f => [f.dataset.metric,
                       [...f.querySelectorAll('.u-legend .u-series .u-label')]
                         .map(e => e.textContent)]))""",
    )


def wait_kernel_charts(page: Any, count: int) -> None:
    """Until `count` kernel charts are shown and each has drawn its canvas."""
    page.wait_for_function(
        """n => {
            const shown = [...document.querySelectorAll('#kernel-charts .kernel-metric')]
                .filter(f => f.offsetParent !== null);
            return shown.length === n && shown.every(f => f.querySelector('canvas'));
        }""",
        arg=count,
    )


@pytest.mark.browser
@pytest.mark.timeout(90)
def test_each_kernel_metric_is_its_own_chart_with_hosts_and_sources_as_series(
    site: Site, page: Any
):
    t = time.time()
    events = [state("preflight", "pending", t), state("baseline", "preflight", t + 0.1)]
    for i in range(4):
        at = t + 0.2 + i / 5
        events += [
            sample("checkout", True, at),
            kernel("kernel.tcp_retransmits", "web", "ebpf", float(i), at + 0.01),
            kernel("kernel.read_latency_ms", "db1", "proc", 1.5 + i, at + 0.02),
        ]
    site.emit(events)
    wait_for_seq(page, len(events))
    wait_kernel_charts(page, 2)

    assert page.is_visible("#kernel-section")
    assert kernel_charts(page) == {
        "tcp_retransmits": ["t (s)", "web (eBPF)"],
        "read_latency_ms": ["t (s)", "db1 (from /proc)"],
    }
    captions = page.eval_on_selector_all(
        "#kernel-charts figcaption", "els => els.map(e => e.textContent)"
    )
    assert captions == ["tcp_retransmits (count per interval)", "read_latency_ms (ms)"]
    # Both moved: nothing to reveal, so no toggle.
    assert page.inner_text("#kernel-status") == "2 of 2 metrics changed during the run."
    assert not page.is_visible("#kernel-all")
    # The probe chart keeps probe latencies and errors only.
    assert legend(page, "#chart") == ["t (s)", "checkout latency (ms)", "errors"]
    assert "(from /proc)" in page.inner_text("#event-log li:last-child")
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.browser
@pytest.mark.timeout(90)
def test_only_kernel_metrics_that_moved_are_charted_until_show_all_is_ticked(site: Site, page: Any):
    t = time.time()
    events = [state("preflight", "pending", t), state("baseline", "preflight", t + 0.1)]
    for i in range(4):
        at = t + 0.2 + i / 5
        events += [
            # Moves on db1 only; web stays at zero, and stays a series of the same chart.
            kernel("kernel.tcp_retransmits", "web", "ebpf", 0.0, at),
            kernel("kernel.tcp_retransmits", "db1", "proc", float(i % 2), at + 0.01),
            # Constant on both hosts: did not move, so hidden by default.
            kernel("kernel.oom_kills", "web", "ebpf", 0.0, at + 0.02),
            kernel("kernel.oom_kills", "db1", "ebpf", 0.0, at + 0.03),
        ]
    site.emit(events)
    wait_for_seq(page, len(events))
    wait_kernel_charts(page, 1)

    moving = {"tcp_retransmits": ["t (s)", "web (eBPF)", "db1 (from /proc)"]}
    assert kernel_charts(page) == moving
    assert page.inner_text("#kernel-status") == (
        "1 of 2 metrics changed during the run; the unchanged are hidden."
    )
    assert page.inner_text("#kernel-all").strip() == "show all 2 metrics"

    page.check("#show-all-metrics")
    wait_kernel_charts(page, 2)
    assert kernel_charts(page) == {
        **moving,
        "oom_kills": ["t (s)", "web (eBPF)", "db1 (eBPF)"],
    }
    # Revealed late, the chart is fitted to its cell, not left at its hidden width.
    widths = page.eval_on_selector_all(
        "#kernel-charts .kernel-metric",
        "fs => fs.map(f => [f.clientWidth, f.querySelector('canvas').clientWidth])",
    )
    for cell, canvas in widths:
        assert abs(cell - canvas) <= 2, widths
    page.uncheck("#show-all-metrics")
    wait_kernel_charts(page, 1)

    # A reload replays the stored stream into the same charts.
    page.reload()
    wait_for_seq(page, len(events))
    wait_kernel_charts(page, 1)
    assert kernel_charts(page) == moving
    assert page.inner_text("#kernel-all").strip() == "show all 2 metrics"
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.browser
@pytest.mark.timeout(90)
def test_the_page_says_where_collectors_fall_back_and_which_fault_had_no_effect(
    site: Site, page: Any
):
    t = time.time()
    collectors = [
        {"name": "tcp_connect", "source": "ebpf", "reason": "eBPF: attached"},
        {"name": "tcp_retransmits", "source": "proc", "reason": "fallback to /proc because ..."},
    ]
    message = "fault applied, no effect seen: no tcp retransmits on db1, web while it was on"
    events = [
        state("preflight", "pending", t),
        ["collectors", {"host": "web", "collectors": collectors}, t + 0.1],
        state("baseline", "preflight", t + 0.2),
        ["fault_applied", {**FAULT, "mechanism": "nftables", "params": {}}, t + 0.3],
        ["fault_reverted", {**FAULT, "state": "reverted"}, t + 0.8],
        [
            "no_effect",
            {
                "fault_id": FAULT["fault_id"],
                "kind": FAULT["kind"],
                "hosts": ["db1", "web"],
                "judged": True,
                "message": message,
            },
            t + 1.0,
        ],  # fmt: skip
    ]
    site.emit(events)
    wait_for_seq(page, len(events))
    assert page.is_visible("#kernel-section")
    line = page.inner_text("#collector-list [data-host='web']")
    assert line == "web: tcp_connect (eBPF), tcp_retransmits (from /proc)"
    note = page.locator(f"[data-fault='{FAULT['fault_id']}'] .no-effect")
    assert note.get_attribute("data-effect") == "none"
    assert note.inner_text() == message
    # The same after a reload, from the stored stream.
    page.reload()
    wait_for_seq(page, len(events))
    assert page.inner_text(f"[data-fault='{FAULT['fault_id']}'] .no-effect") == message
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.browser
@pytest.mark.timeout(90)
def test_unticking_samples_leaves_the_milestones_in_the_log(site: Site, page: Any):
    t = time.time()
    events = [
        state("preflight", "pending", t),
        sample("checkout", True, t + 0.1),
        kernel("kernel.tcp_retransmits", "web", "ebpf", 1.0, t + 0.2),
        state("baseline", "preflight", t + 0.3),
    ]
    site.emit(events)
    wait_for_seq(page, len(events))
    visible = "els => els.filter(e => e.offsetParent !== null).map(e => e.dataset.type)"
    assert page.eval_on_selector_all("#event-log li", visible) == [
        "state", "sample", "sample", "state",
    ]  # fmt: skip
    page.uncheck("#show-samples")
    assert page.eval_on_selector_all("#event-log li", visible) == ["state", "state"]
    page.check("#show-samples")
    assert len(page.eval_on_selector_all("#event-log li", visible)) == 4
    assert page.errors == []  # type: ignore[attr-defined]
