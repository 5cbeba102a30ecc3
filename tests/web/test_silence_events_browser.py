"""The live run page says what happened to a fault window's silence in the run's own sentences:
made (with its id), expired, or not made and why. Real browser, daphne, Redis and event sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium_page
from tests.web.site import Site, open_run_page, run_site, wait_for_seq

PASSWORD = "browser-Pass-1"
T0 = 1_800_000_000.0
SILENCE_ID = "bd7a846c-ed47-4d41-af94-0af5ece62d1b"
FAULT = {"step": 2, "fault_id": "r1-s2-a1", "host": "db1", "kind": "network.partition"}
MADE = (
    "alerts whose instance is db1 or db1:<port> are silenced until 08:00:40 UTC at the latest "
    f"(silence {SILENCE_ID})"
)
ENDED = f"the silence of alerts about db1 is expired (silence {SILENCE_ID})"
NOT_MADE = (
    "alerts about web are not silenced: Alertmanager at http://127.0.0.1:9093 could not be "
    "reached to create a silence: connection refused (is it running, on that port?); the drill "
    "goes on"
)
STREAM = [
    ["silence", {"step": 2, "host": "db1", "silence_id": SILENCE_ID, "state": "created",
                 "ends_at": T0 + 40, "message": MADE}, T0 + 1.0],
    ["fault_applied", {**FAULT, "mechanism": "nftables", "params": {}}, T0 + 1.1],
    ["fault_reverted", {**FAULT, "state": "reverted"}, T0 + 11.1],
    ["silence", {"step": 2, "host": "db1", "silence_id": SILENCE_ID, "state": "expired",
                 "ends_at": T0 + 11.2, "message": ENDED}, T0 + 11.2],
    ["silence", {"step": 3, "host": "web", "state": "failed", "message": NOT_MADE}, T0 + 12.0],
]  # fmt: skip


@pytest.fixture
def site(tmp_path: Path, needs_redis: str) -> Iterator[Site]:
    with run_site(tmp_path, needs_redis, "olive", PASSWORD) as s:
        yield s


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_the_run_page_says_each_silence_s_sentence(site: Site) -> None:
    with chromium_page() as page:
        open_run_page(page, site, "olive", PASSWORD)
        site.emit(STREAM)
        wait_for_seq(page, len(STREAM))
        lines = page.eval_on_selector_all(
            "#event-log li[data-type='silence']", "els => els.map(e => e.textContent)"
        )
        assert page.errors == []  # type: ignore[attr-defined]
    said: list[Any] = [line.split(" silence ", 1)[1] for line in lines]
    assert said == [MADE, ENDED, NOT_MADE]
