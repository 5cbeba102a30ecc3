"""What the command-line tests share: a database of their own on the test Redis, and the
real commands run in their own processes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import redis_up, require
from tests.conftest import test_redis_url as redis_url  # not collected as a test

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests" / "fixtures" / "playbooks" / "cli" / "wait-only.yaml"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    require(redis_up(), f"needs a Redis server at {redis_url()}")
    env = dict(os.environ)
    env.pop("DRILLHALL_USER", None)
    env.update(
        REDIS_URL=redis_url(),
        DRILLHALL_SQLITE_PATH=str(tmp_path / "drillhall.sqlite3"),
        DRILLHALL_STATE_DIR=str(tmp_path / "state"),
        DJANGO_SETTINGS_MODULE="drillhall.settings",
        PYTHONPATH=str(ROOT),
    )
    manage(env, "migrate", "--verbosity", "0")
    return env


def manage(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def drillhall(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drills.cli.main", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def count(env: dict[str, str], table: str) -> int:
    with sqlite3.connect(env["DRILLHALL_SQLITE_PATH"]) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
