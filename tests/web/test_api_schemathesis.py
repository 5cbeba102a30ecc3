"""Done-means 5 of issue 13: schemathesis, run against the OpenAPI schema a live server serves,
with a valid token, finds no 5xx and no response that breaks the schema.

The server is daphne in a subprocess on a free loopback port, with a SQLite database of its
own (tests/web/api_live_seed.py) whose inventory is empty: a run that schemathesis starts is
refused by the planner at once, and game-day drills go to an orchestrator queue of this test's
own that no worker reads (emptied afterwards). Nothing reaches a host; all traffic is loopback,
bounded by the examples per operation and the long-poll bound (1 s here).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.web.halt_state import forget_redis

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("DRILLHALL_SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def api_server(tmp_path: Path, needs_redis: str) -> Iterator[dict[str, Any]]:
    queue = f"api-live-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DRILLHALL_SQLITE_PATH": str(tmp_path / "api.sqlite3"),
        "DRILLHALL_STATE_DIR": str(tmp_path / "state"),
        "REDIS_URL": needs_redis,
        "DRILLHALL_ORCHESTRATOR_QUEUE": queue,
        "DRILLHALL_REAPER": "false",
        "DRILLHALL_API_WAIT_MAX_SECONDS": "1",
    }
    seeded = subprocess.run(
        [sys.executable, "-m", "tests.web.api_live_seed"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    ids = json.loads(seeded.stdout.strip().splitlines()[-1])
    port = free_port()
    log = (tmp_path / "daphne.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "drillhall.asgi:application"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v1/schema/", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "daphne.log").read_text()
            assert time.monotonic() < deadline, "the server did not answer within 30 s"
            time.sleep(0.2)
        yield {"base": base, "env": env, "log": tmp_path / "daphne.log", **ids}
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        redis.Redis.from_url(needs_redis).delete(queue)
        forget_redis(needs_redis)  # schemathesis may have halted (and released) everything


def config(tmp_path: Path, live: dict[str, Any]) -> Path:
    """Path parameters pinned to the seeded objects: otherwise nearly every request would be
    a 404 for an id that does not exist, and the 200 answers would go untested."""
    path = tmp_path / "schemathesis.toml"
    path.write_text(
        "[parameters]\n"
        f'"path.name" = "{live["name"]}"\n'
        f'"path.gameday" = "{live["gameday"]}"\n'
        f'"path.run_id" = {live["run_id"]}\n'
        f'"path.gameday_run_id" = {live["gameday_run_id"]}\n'
        '"path.number" = 1\n"path.a" = 1\n"path.b" = 2\n'
    )
    return path


@pytest.mark.timeout(300)
def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_schema(
    tmp_path: Path, api_server: dict[str, Any]
) -> None:
    seed = int(os.environ.get("DRILLHALL_SCHEMATHESIS_SEED") or secrets.randbelow(2**31))
    command = [
        sys.executable, "-m", "schemathesis.cli",
        "--config-file", str(config(tmp_path, api_server)),
        "run", f"{api_server['base']}/api/v1/schema/",
        "--header", f"Authorization: Bearer {api_server['token']}",
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES),
        "--seed", str(seed),
        "--workers", "2",
        "--request-timeout", "10",
        "--generation-database", "none",
        "--no-color",
        "--output-truncate", "true",
    ]  # fmt: skip
    began = time.monotonic()
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=280, check=False
    )
    took = time.monotonic() - began
    report = Path(os.environ.get("DRILLHALL_SCHEMATHESIS_OUT", tmp_path / "schemathesis.txt"))
    report.write_text(done.stdout + done.stderr)
    summary = done.stdout[done.stdout.rfind("SUMMARY") :][:3000]
    print(summary, f"\nseed {seed}, {took:.0f} s; the whole output is in {report}")
    server_log = api_server["log"].read_text()
    assert done.returncode == 0, f"seed {seed} (output in {report}):\n{summary}"
    assert "Traceback" not in server_log, server_log[-4000:]
