"""A real drill watched live: daphne, a Celery orchestrator worker, Redis and chromium.

The drill has no fault, so it needs no lab and no agent: two waits while an HTTP and a TCP
probe sample a small HTTP server this test runs on loopback, then recovery is judged by an
SLA. It is started from the browser with the Run button, as a user starts one.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from drills.cli.workers import active_queues
from tests.browser import chromium_browser, new_page
from tests.conftest import redis_up, require
from tests.web.site import Site, log_in, log_seqs, new_site, unique_run_id, worker_redis_url

PASSWORD = "live-Pass-1"
WATCHERS = 10

PLAYBOOK = """\
apiVersion: drillhall/v1
kind: Playbook
metadata:
  name: live-watch
  description: Watch the shop through two quiet waits; nothing is broken.
targets: {}
probes:
  - name: shop
    http: {url: "http://127.0.0.1:%(port)d/", timeout: 1s}
    every: 100ms
  - name: shop-port
    tcp: {host: 127.0.0.1, port: %(port)d, timeout: 1s}
    every: 250ms
steps:
  - name: first half
    wait: %(half)s
  - name: second half
    wait: %(half)s
slas:
  - name: shop recovers
    assert: error_rate(shop, 2s) < 10%%
    during: recovery
objectives:
  rto: 30s
"""

SEED = """
import django; django.setup()
from django.contrib.auth.models import Group, User
from django.db import connection
from drills.web.models import Membership, Playbook
# Run ids continue from a unique number: channel groups are named after them (see site.py).
with connection.cursor() as cursor:
    cursor.execute(
        "INSERT INTO sqlite_sequence (name, seq) VALUES ('drills_drillrun', %%s)", [%(first_id)d]
    )
user = User.objects.create_user("olive", password=%(password)r)
# The user writes and runs the team's drills (author and operator, drills.web.roles).
team = Group.objects.create(name="platform-team")
for role in ("author", "operator"):
    Membership.objects.create(user=user, team=team, role=role)
playbook = Playbook.objects.create(name="live-watch", owner=user, team=team)
playbook.save_version(%(yaml)r, author=user, message="first")
"""


class _Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None  # a request every 100 ms would flood the test output


@pytest.fixture
def shop() -> Iterator[int]:
    """The probed service: a loopback HTTP server; its port, for both probes."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Drill:
    site: Site
    half: str

    def seed(self, port: int) -> None:
        yaml = PLAYBOOK % {"port": port, "half": self.half}
        seed = SEED % {"password": PASSWORD, "yaml": yaml, "first_id": unique_run_id()}
        self.site.python(seed)


def live_site(tmp_path: Path, port: int, half: str) -> Iterator[Site]:
    redis_url = worker_redis_url()
    require(redis_up(redis_url), f"needs a Redis server at {redis_url} (make setup starts one)")
    # The worker takes any run_drill task on this broker: another one running there would
    # take this test's drill, or this worker its drill.
    require(
        "orchestrator" not in active_queues(0.5, redis_url),
        f"another orchestrator worker consumes the queue on {redis_url}",
    )
    site = new_site(tmp_path, redis_url)
    Drill(site, half).seed(port)
    site.start_web()
    try:
        site.start_orchestrator()
        yield site
    finally:
        site.stop_workers()
        site.stop_web()


@pytest.fixture
def site(tmp_path: Path, shop: int) -> Iterator[Site]:
    yield from live_site(tmp_path, shop, "4s")


def start_run(page: Any, site: Site) -> str:
    """Press Run on the playbook page; the run page's URL."""
    page.goto(site.url + "/playbooks/live-watch/")
    page.click("#run-button")
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    return str(page.url)


def wait_finished(page: Any, timeout_ms: float = 40_000) -> None:
    page.wait_for_function(
        "document.querySelector('#event-log li:last-child')?.dataset.type === 'result'",
        timeout=timeout_ms,
    )


def stored_seqs(page: Any, run_url: str) -> list[int]:
    """Every stored event's seq, read from the JSON events API with the page's session."""
    seqs: list[int] = []
    while True:
        response = page.request.get(f"{run_url}events?after={seqs[-1] if seqs else 0}")
        assert response.ok, response.status
        body = response.json()
        seqs += [event["seq"] for event in body["events"]]
        if not body["more"]:
            return seqs


@pytest.mark.browser
@pytest.mark.timeout(90)
def test_a_reload_mid_run_shows_the_whole_history_without_gap_or_duplicate(site: Site):
    with chromium_browser() as browser:
        page = new_page(browser, timeout_ms=20_000)
        log_in(page, site, "olive", PASSWORD)
        run_url = start_run(page, site)
        # Mid-run: the first wait is over, the second has begun; both are baseline.
        page.wait_for_selector("#event-log li[data-type='step_finished']")
        state_at_reload = page.inner_text("#run-state")
        seen_before_reload = log_seqs(page)
        page.reload()

        # The run goes on after the reload: the live counter runs through recovery.
        page.wait_for_function("document.querySelector('#run-state').textContent === 'recovering'")
        assert page.inner_text("#rto").endswith("s… (recovering)")
        wait_finished(page)

        stored = stored_seqs(page, run_url)
        shown = log_seqs(page)
        assert state_at_reload == "baseline"
        assert seen_before_reload == list(range(1, len(seen_before_reload) + 1))
        assert len(seen_before_reload) < len(stored)  # the reload happened mid-run
        assert stored == list(range(1, len(stored) + 1))
        assert shown == stored
        assert page.inner_text("#run-state") == "passed"
        assert page.get_attribute('[data-sla="shop recovers"]', "data-state") == "passed"
        assert re.fullmatch(r"\d+\.\d s", page.inner_text("#rto"))
        assert page.errors == []  # type: ignore[attr-defined]


@pytest.fixture
def long_site(tmp_path: Path, shop: int) -> Iterator[Site]:
    # Long enough for all the watchers to open the run page while it is still going.
    yield from live_site(tmp_path, shop, "5s")


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_ten_browsers_watching_one_run_each_see_every_event_once(long_site: Site):
    site = long_site
    with chromium_browser() as browser:
        pages = [new_page(browser, timeout_ms=30_000) for _ in range(WATCHERS)]
        for page in pages:
            log_in(page, site, "olive", PASSWORD)
        run_url = start_run(pages[0], site)
        for page in pages[1:]:
            page.goto(run_url)
        running = pages[-1].inner_text("#run-state")
        for page in pages:
            wait_finished(page, timeout_ms=60_000)

        stored = stored_seqs(pages[0], run_url)
        assert running not in {"passed", "failed", "aborted", "error"}  # joined a live run
        assert stored == list(range(1, len(stored) + 1))
        for number, page in enumerate(pages):
            assert log_seqs(page) == stored, f"watcher {number}"
            assert page.inner_text("#run-state") == "passed", f"watcher {number}"
            assert page.errors == [], f"watcher {number}"  # type: ignore[attr-defined]
