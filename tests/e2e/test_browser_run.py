"""The demo drill from the browser: log in, run, watch the verdict turn to passed live."""

from __future__ import annotations

import pytest

from tests.browser import chromium_page
from tests.e2e.stack import Stack


@pytest.fixture
def page():  # type: ignore[no-untyped-def]
    with chromium_page() as page:
        yield page


def test_browser_runs_demo_and_sees_passed_live(stack: Stack, e2e_password: str, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(stack.url + "/accounts/login/")
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", e2e_password)
    page.click("button[type=submit], input[type=submit]")
    page.goto(stack.url + "/playbooks/partition-demo/")
    page.click("text=Run")
    page.wait_for_url("**/runs/*/")
    state = page.locator("#run-state")
    # Live: the fault phase shows up before the end, then the verdict turns to passed.
    page.wait_for_function(
        "document.querySelector('#run-state').textContent.trim() === 'observing'", timeout=30_000
    )
    fault_sla = page.locator('[data-sla="checkout fails while db1 is cut off"]')
    page.wait_for_function(
        "document.querySelector('#run-state').textContent.trim() === 'passed'", timeout=90_000
    )
    assert state.inner_text().strip() == "passed"
    assert fault_sla.get_attribute("data-state") == "passed"
    # Every step is named in the log, in words: no "step undefined", no dict reprs.
    log = page.inner_text("#event-log")
    assert "undefined" not in log and "{" not in log, log
    assert "step 2 “cut db1 off from web” started" in log, log
    page.screenshot(path=str(stack.tmp / "run-passed.png"), full_page=True)
