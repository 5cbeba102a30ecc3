"""The editor in a real browser against daphne: a typo is marked at its line, the fix
validates, two saves make two versions, the history diffs them, and the plan panel shows the
partition step. Completion offers top-level keys and fault names from the JSON Schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium_page
from tests.conftest import require
from tests.web.site import CHECKOUT_YAML, ROOT, Site, log_in, new_site

PASSWORD = "editor-Pass-1"
BUNDLE = ROOT / "static" / "vendor" / "editor.bundle.js"

SEED = """
import django; django.setup()
from django.contrib.auth.models import Group, User
from drills.web.hosts import register_host
from drills.web.models import Membership, Playbook
user = User.objects.create_user("olive", password=%(password)r)
# The user writes and runs the team's drills (author and operator, drills.web.roles).
team = Group.objects.create(name="platform-team")
for role in ("author", "operator"):
    Membership.objects.create(user=user, team=team, role=role)
playbook = Playbook.objects.create(name="checkout-partition", owner=user, team=team)
playbook.save_version(open(%(yaml)r).read(), author=user, message="first")
register_host("web", "10.77.0.2")
register_host("db1", "10.77.0.3")
"""

DURATION_LINE = "    duration: 10s"


@pytest.fixture
def site(tmp_path: Path, needs_redis: str) -> Iterator[Site]:
    require(BUNDLE.is_file(), "needs the editor bundle (scripts/setup.sh builds it)")
    s = new_site(tmp_path, needs_redis)
    s.python(SEED % {"password": PASSWORD, "yaml": str(CHECKOUT_YAML)})
    with s.serving():
        yield s


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium_page(timeout_ms=15_000) as page:
        yield page


def wait_validated(page: Any, state: str) -> None:
    page.wait_for_selector(f"#validation-status[data-state='{state}']")


def edit_duration_line(page: Any, keys: list[str], text: str = "") -> None:
    """Put the cursor at the end of the step's duration line, then press keys and type."""
    page.locator(".cm-line", has_text="duration:").click()
    page.keyboard.press("End")
    for key in keys:
        page.keyboard.press(key)
    if text:
        page.keyboard.type(text)


def save(page: Any, message: str) -> None:
    wait_validated(page, "valid")
    page.fill("#save-message", message)
    with page.expect_navigation():
        page.click("#save-button")


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_editor_marks_a_typo_saves_versions_diffs_them_and_shows_the_plan(site: Site, page):
    log_in(page, site, "olive", PASSWORD)
    page.goto(f"{site.url}/playbooks/checkout-partition/edit/")
    page.wait_for_selector("#editor .cm-editor")
    assert not page.is_visible("#editor-source")

    # The plan of the stored text: the partition step on db1, after the 5 s wait.
    wait_validated(page, "valid")
    fault_row = page.locator("#plan-steps tr[data-kind='fault']")
    assert fault_row.locator(".plan-fault").inner_text() == "network.partition"
    assert fault_row.locator(".plan-host").inner_text() == "db1"
    assert "5s" in fault_row.inner_text() and "10s" in fault_row.inner_text()
    assert "db1" in page.inner_text("#blast-hosts")
    assert "null" not in page.inner_text("#plan")

    # duration -> duraton: cursor after the "i", 7 characters from the end; delete it.
    lines = CHECKOUT_YAML.read_text().splitlines()
    line_no = lines.index(DURATION_LINE) + 1
    edit_duration_line(page, ["ArrowLeft"] * 7 + ["Backspace"])
    wait_validated(page, "invalid")
    item = page.locator(f"#problems li[data-line='{line_no}']", has_text="duraton")
    assert item.count() == 1
    assert "did you mean 'duration'" in item.inner_text()
    marked = page.locator(".cm-lintRange-error", has_text="duraton")
    marked.wait_for()
    assert page.locator(".cm-lint-marker-error").count() >= 1

    # Fix it (the cursor sits where the "i" was) and lengthen the partition: version 2.
    page.keyboard.type("i")
    wait_validated(page, "valid")
    assert page.locator("#problems li").count() == 0
    edit_duration_line(page, ["Backspace"] * 3, "12s")
    wait_validated(page, "valid")
    page.wait_for_function(
        "document.querySelector(\"#plan-steps tr[data-kind='fault']\")?.innerText.includes('12s')"
    )
    save(page, "cut for 12 s")
    assert "Saved v2." in page.inner_text(".messages")

    edit_duration_line(page, ["Backspace"] * 3, "15s")
    save(page, "cut for 15 s")
    assert "Saved v3." in page.inner_text(".messages")

    # History: three versions, newest first; the two newest are preselected for the diff.
    page.click("#history-link")
    numbers = page.eval_on_selector_all(
        "#version-table tr[data-version]", "rows => rows.map(r => r.dataset.version)"
    )
    assert numbers == ["3", "2", "1"]
    assert page.inner_text("tr[data-version='2'] .version-message") == "cut for 12 s"
    with page.expect_navigation():
        page.click("#diff-button")
    assert page.url.endswith("/playbooks/checkout-partition/diff/2/3/")
    assert page.locator("tr.diff-del").all_inner_texts() == [f"{line_no}\t\t-    duration: 12s"]
    assert page.locator("tr.diff-add").all_inner_texts() == [f"\t{line_no}\t+    duration: 15s"]

    # Completion from the schema: a fault step's keys (narrowed by its `fault:`, without the
    # keys it has), fault names after `fault:`, and top-level keys.
    page.goto(f"{site.url}/playbooks/checkout-partition/edit/")
    wait_validated(page, "valid")
    options = page.locator(".cm-tooltip-autocomplete li")
    page.locator(".cm-line", has_text="from: [web]").click()
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.keyboard.press("Control+Space")  # every key the position allows, unfiltered
    options.first.wait_for()
    offered = options.all_inner_texts()
    assert any(o.startswith("direction") for o in offered), offered
    assert not any(o.startswith(("wait", "from", "target")) for o in offered), offered
    page.keyboard.press("Escape")
    page.locator(".cm-line", has_text="fault: network.partition").click()
    page.keyboard.press("End")
    for _ in "network.partition":
        page.keyboard.press("Backspace")
    page.keyboard.type("netw")
    options.first.wait_for()
    assert "network.partition" in options.all_inner_texts()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    page.keyboard.press("Shift+Home")
    page.keyboard.type("lim")
    options.first.wait_for()
    assert "limits" in options.all_inner_texts()
    assert page.errors == []  # type: ignore[attr-defined]
