"""The editor in a real browser, on a playbook whose latest version was saved with a DSN's
password before secrets were named: the page, the editor and what it validates never hold the
password, and the problem list says to name the secret instead."""

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
SECRET = "hunter2"

# Version 2 is written to the table directly, as a save before this change left it.
SEED = """
import django, hashlib; django.setup()
from django.contrib.auth.models import User
from drills.web.hosts import register_host
from drills.web.models import Playbook, PlaybookVersion
user = User.objects.create_user("olive", password=%(password)r)
playbook = Playbook.objects.create(name="checkout-partition", owner=user)
text = open(%(yaml)r).read()
playbook.save_version(text, author=user, message="first")
old = text.replace("    every: 250ms\\n", "    every: 250ms\\n  - name: orders\\n"
                   "    canary: {postgres: {dsn: 'postgresql://shop:hunter2@db1/shop'}}\\n")
PlaybookVersion.objects.create(playbook=playbook, number=2, content=old, author=user,
                               content_hash=hashlib.sha256(old.encode()).hexdigest())
register_host("web", "10.77.0.2")
register_host("db1", "10.77.0.3")
"""


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


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_the_editor_never_holds_an_old_versions_password(site: Site, page: Any) -> None:
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.post_data or ""))
    log_in(page, site, "olive", PASSWORD)
    page.goto(f"{site.url}/playbooks/checkout-partition/edit/")
    page.wait_for_selector("#editor .cm-editor")
    page.wait_for_selector("#validation-status[data-state='invalid']")

    line = page.locator(".cm-line", has_text="postgresql://")
    assert line.inner_text() == (
        "    canary: {postgres: {dsn: 'postgresql://shop:<redacted>@db1/shop'}}"
    )
    problem = page.locator("#problems li", has_text="a password is written in the DSN")
    assert problem.count() == 1
    assert "dsn_env: SHOP_PG_DSN" in problem.inner_text()
    assert SECRET not in page.content()
    assert SECRET not in page.input_value("#editor-source")
    # What the editor sent to be validated and planned is what it shows.
    assert any("<redacted>" in body for body in sent)
    assert not any(SECRET in body for body in sent)
    assert page.errors == []  # type: ignore[attr-defined]
