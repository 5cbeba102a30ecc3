"""Done-means 6 of issue 13: /metrics of a live server is scraped, and the run counters move
when a run finishes.

The real processes, each with the test's own SQLite file on the test Redis: daphne serving the
site, and `drillhall run` driving a drill that only waits (tests/fixtures/playbooks/cli/
wait-only.yaml) through the orchestrator worker it starts, so no lab or agent is involved. The
scrapes go over TCP from two loopback addresses, 127.0.0.1 and 127.0.0.2: only the second is
in DRILLHALL_METRICS_ALLOW, and a token is set too.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from drills.cli.workers import web_argv
from tests.conftest import free_port, redis_up, require
from tests.conftest import test_redis_url as redis_url  # not collected as a test

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests" / "fixtures" / "playbooks" / "cli" / "wait-only.yaml"
TOKEN = "live-scrape-token-0123456789abcdef"
ALLOWED = "127.0.0.2"  # the scraper's address; 127.0.0.1 is not allowed

pytestmark = pytest.mark.timeout(240)


@dataclass
class Server:
    env: dict[str, str]
    port: int

    def get(self, source: str, token: str | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=10, source_address=(source, 0)
        )
        try:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            conn.request("GET", "/metrics", headers=headers)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, text = self.get(ALLOWED, TOKEN)
        assert status == 200, text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }


def run(env: dict[str, str], *argv: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    require(redis_up(), f"needs a Redis server at {redis_url()}")
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url(),
        DRILLHALL_SQLITE_PATH=str(tmp_path / "drillhall.sqlite3"),
        DRILLHALL_STATE_DIR=str(tmp_path / "state"),
        DRILLHALL_METRICS_ALLOW=f"{ALLOWED}/32",
        DRILLHALL_METRICS_TOKEN=TOKEN,
        DRILLHALL_USER="metrics-admin",
        DJANGO_SETTINGS_MODULE="drillhall.settings",
        PYTHONPATH=str(ROOT),
    )
    for argv in (("migrate", "--verbosity", "0"), ("grant", "metrics-admin", "admin", "--create")):
        out = run(env, "manage.py", *argv, timeout=60)
        assert out.returncode == 0, out.stderr + out.stdout
    port = free_port()
    log = (tmp_path / "web.log").open("ab")
    web = subprocess.Popen(
        web_argv(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    server = Server(env, port)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert web.poll() is None, (tmp_path / "web.log").read_text()
            try:
                server.get(ALLOWED, TOKEN)
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "web.log").read_text()
                time.sleep(0.3)
        yield server
    finally:
        web.send_signal(signal.SIGTERM)
        try:
            web.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(web.pid, signal.SIGKILL)
            web.wait(timeout=5)


def test_the_run_counters_move_when_a_run_finishes(server: Server) -> None:
    before = server.scrape()
    passed = ("drillhall_runs_finished_total", (("verdict", "passed"),))
    assert before[passed] == 0
    assert ("drillhall_runs_active", (("state", "pending"),)) in before

    out = run(server.env, "-m", "drills.cli.main", "run", str(PLAYBOOK), "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verdict: passed" in out.stdout

    after = server.scrape()
    assert after[passed] == 1
    moved = {key: after[key] - before[key] for key in before if key[0].startswith("drillhall_runs")}
    assert {key: delta for key, delta in moved.items() if delta} == {passed: 1}


def test_a_scrape_without_the_token_or_from_elsewhere_is_refused(server: Server) -> None:
    status, text = server.get(ALLOWED)
    assert status == 401
    assert "Metrics need the token set in DRILLHALL_METRICS_TOKEN" in text
    status, text = server.get(ALLOWED, "not-the-token")
    assert status == 401
    assert TOKEN not in text
    status, text = server.get("127.0.0.1", TOKEN)
    assert status == 403
    assert text == (
        "Metrics are served only to addresses in DRILLHALL_METRICS_ALLOW (127.0.0.2/32); "
        "127.0.0.1 is not among them.\n"
    )
