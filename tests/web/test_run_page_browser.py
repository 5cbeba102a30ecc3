"""The live run page in a real browser: daphne, Redis and the real event sink, no workers.

Events are written by a separate process through drills.web.stream.RunEventSink (store, then
publish), exactly as the orchestrator writes them; the page must apply each one once, and
catch up after the web server restarts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium_page
from tests.web.site import Site, log_in, log_seqs, open_run_page, run_site, wait_for_seq

PASSWORD = "browser-Pass-1"

T0 = 1_800_000_000.0


def state(new: str, previous: str, t: float) -> list[Any]:
    return ["state", {"state": new, "previous": previous}, T0 + t]


def sample(ok: bool, latency: float | None, t: float) -> list[Any]:
    data = {
        "probe": "checkout",
        "ok": ok,
        "latency_ms": latency,
        "status": 200 if ok else None,
        "error": None if ok else "timeout",
    }
    return ["sample", data, T0 + t]


FAULT = {"step": 2, "fault_id": "r1-s2-a1", "host": "db1", "kind": "network.partition"}
BEFORE_FAULT = [
    state("preflight", "pending", 0.0),
    state("baseline", "preflight", 0.1),
    sample(True, 3.0, 0.5),
    sample(True, 3.5, 1.0),
    state("injecting", "baseline", 1.5),
    [
        "step_started",
        {
            "step": 2,
            "name": "cut db1 off",
            "kind": "fault",
            "fault": "network.partition",
            "target": "db",
            "host": "db1",
            "duration": 10.0,
        },
        T0 + 1.5,
    ],
    ["fault_applied", {**FAULT, "mechanism": "nftables", "params": {}}, T0 + 1.6],
    state("observing", "injecting", 1.7),
    sample(False, None, 2.0),
]
WHILE_DOWN = [
    sample(False, None, 2.5),
    [
        "verdict",
        {
            "sla": "checkout recovers",
            "state": "breached",
            "value": 100.0,
            "reason": "error rate 100%",
            "on_breach": "abort",
        },
        T0 + 2.6,
    ],
    ["fault_reverted", {**FAULT, "state": "reverted"}, T0 + 3.0],
]
AFTER_RESTART = [
    sample(True, 4.0, 3.5),
    [
        "verdict",
        {
            "sla": "checkout recovers",
            "state": "passed",
            "value": 0.0,
            "reason": "",
            "on_breach": "abort",
        },
        T0 + 4.0,
    ],
    state("reverting", "observing", 4.1),
    state("recovering", "reverting", 4.2),
    state("passed", "recovering", 4.3),
    [
        "result",
        {
            "state": "passed",
            "verdicts": {"checkout recovers": "passed"},
            "rto": 2.5,
            "rto_objective": 30.0,
            "reason": "every SLA held",
        },
        T0 + 4.4,
    ],
]


@pytest.fixture
def site(tmp_path: Path, needs_redis: str) -> Iterator[Site]:
    with run_site(tmp_path, needs_redis, "olive", PASSWORD) as s:
        yield s


@pytest.fixture
def browser_page() -> Iterator[Any]:
    with chromium_page() as page:
        yield page


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_run_page_follows_the_stream_once_across_a_server_restart(site: Site, browser_page):
    page = browser_page
    open_run_page(page, site, "olive", PASSWORD)

    site.emit(BEFORE_FAULT)
    wait_for_seq(page, len(BEFORE_FAULT))
    assert page.inner_text("#run-state") == "observing"
    assert page.get_attribute("#step-list [data-step='2']", "class").endswith("active")
    assert page.get_attribute("[data-fault='r1-s2-a1']", "data-state") == "applied"
    # The chart exists and has drawn: uPlot's canvas inside #chart.
    page.wait_for_selector("#chart canvas")

    site.stop_web()
    site.emit(WHILE_DOWN)  # stored; published to nobody
    site.start_web()
    site.emit(AFTER_RESTART)
    total = len(BEFORE_FAULT) + len(WHILE_DOWN) + len(AFTER_RESTART)
    wait_for_seq(page, total)

    assert log_seqs(page) == list(range(1, total + 1))
    assert page.inner_text("#run-state") == "passed"
    sla = page.locator('[data-sla="checkout recovers"]')
    assert sla.get_attribute("data-state") == "passed"
    assert sla.inner_text() == "passed"
    assert page.inner_text("#rto") == "2.5 s"
    assert page.get_attribute("[data-fault='r1-s2-a1']", "data-state") == "reverted"
    assert not page.is_visible("#abort-button")

    # A reload starts from 0 and the server replays the same stream.
    page.reload()
    wait_for_seq(page, total)
    assert log_seqs(page) == list(range(1, total + 1))
    assert page.inner_text("#run-state") == "passed"
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_run_page_works_without_the_chart_library(site: Site, browser_page):
    page = browser_page
    page.route("**/static/vendor/uPlot.iife.min.js", lambda route: route.abort())
    log_in(page, site, "olive", PASSWORD)
    site.emit(BEFORE_FAULT)
    page.goto(f"{site.url}/runs/{site.run_id}/")
    wait_for_seq(page, len(BEFORE_FAULT))
    assert page.inner_text("#run-state") == "observing"
    assert "uPlot not loaded" in page.inner_text("#chart-status")
    assert page.errors == []  # type: ignore[attr-defined]
