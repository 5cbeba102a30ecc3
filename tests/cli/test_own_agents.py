"""An agent `drillhall run` (or the demo) starts on this machine for a host outside the lab gets
its Redis user as enrolment would give it, and so reaches an ACL'd Redis as itself.

A real supervisor and Celery worker on the tests' Redis (make setup's users); who it is, Redis
itself says (CLIENT LIST).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from drills.cli import workers
from injector.credentials import (
    ADMIN_USER,
    admin_redis_url,
    agent_user,
    credentials_dir,
    password_file,
)
from injector.protocol import agent_queue
from tests.conftest import require
from tests.conftest import test_redis_url as redis_url_of_tests

ROOT = Path(__file__).resolve().parents[2]
HOST = f"solo-{os.getpid()}"


@pytest.fixture
def admin(needs_redis: str) -> Iterator[redis.Redis]:
    directory = credentials_dir()
    require(
        password_file(directory, ADMIN_USER).is_file(),
        f"needs the Redis users of make setup (no {ADMIN_USER} password in {directory})",
    )
    url = admin_redis_url(redis_url_of_tests(), directory)
    client = redis.Redis.from_url(url, socket_timeout=5)
    yield client
    client.execute_command("ACL", "DELUSER", agent_user(HOST))
    shutil.rmtree(password_file(directory, agent_user(HOST)).parent, ignore_errors=True)
    client.close()


def test_an_agent_started_here_for_a_host_without_a_namespace_reaches_redis_as_itself(
    admin: redis.Redis, tmp_path: Path
) -> None:
    argv = workers.agent_argv(HOST, "", redis_url_of_tests())
    assert password_file(credentials_dir(), agent_user(HOST)).is_file()
    env = {**os.environ, "REDIS_URL": redis_url_of_tests(), "PYTHONPATH": str(ROOT)}
    log = tmp_path / "agent.log"
    proc = subprocess.Popen(
        [*argv, "--state-dir", str(tmp_path / "agent"), "--address", "127.0.0.9"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 40
        queue = agent_queue(HOST)
        while queue not in workers.active_queues(0.5, redis_url_of_tests(), [queue]):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        raw = admin.execute_command("CLIENT", "LIST")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        users = {field.split("=", 1)[1] for line in text.splitlines()
                 for field in line.split(" ") if field.startswith("user=")}  # fmt: skip
        assert agent_user(HOST) in users, users
        assert "NOAUTH" not in log.read_text() and "WRONGPASS" not in log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
