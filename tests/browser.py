"""Debian chromium driven by Playwright, the one way every browser test starts it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.conftest import require

CHROMIUM = "/usr/bin/chromium"
# Playwright's own browser download does not work here; these flags keep Debian's chromium
# quiet on a machine with no network beyond loopback.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """One chromium; each new_context() in it is a separate user with its own cookies."""
    require(os.path.exists(CHROMIUM), "needs Debian chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any, timeout_ms: float | None = None) -> Any:
    """A page in a fresh context; page.errors collects uncaught JavaScript errors."""
    page = browser.new_context().new_page()
    if timeout_ms is not None:
        page.set_default_timeout(timeout_ms)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    return page


@contextmanager
def chromium_page(timeout_ms: float | None = None) -> Iterator[Any]:
    """A fresh page; page.errors collects uncaught JavaScript errors."""
    with chromium_browser() as browser:
        yield new_page(browser, timeout_ms)
