"""`drillhall run FILE --server URL`, the CI gate: against a live server (daphne and an
orchestrator worker, their own SQLite file, the test Redis), it uploads the playbook, runs it,
prints its events and exits 0, 1 and 2 as a local run does, writing the JUnit report.

The drills only wait (no lab, no agent); the failing one holds an SLA on a probe of a loopback
port where nothing listens.
"""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import junitparser
import pytest

from drills.cli.workers import web_argv
from tests.cli.conftest import PLAYBOOK
from tests.conftest import free_port, redis_up, require
from tests.conftest import test_redis_url as redis_url  # not collected as a test

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


@dataclass
class Live:
    url: str
    env: dict[str, str]  # the pipeline's: no database, only the token


def manage(env: dict[str, str], *argv: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    require(redis_up(), f"needs a Redis server at {redis_url()}")
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url(),
        DRILLHALL_SQLITE_PATH=str(tmp_path / "server.sqlite3"),
        DRILLHALL_STATE_DIR=str(tmp_path / "state"),
        # Its own queue: no other test's orchestrator takes these runs.
        DRILLHALL_ORCHESTRATOR_QUEUE=f"gate-{uuid.uuid4().hex[:8]}",
        DJANGO_SETTINGS_MODULE="drillhall.settings",
        PYTHONPATH=str(ROOT),
    )
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "grant", "ci", "operator", "platform-team", "--create")
    manage(env, "grant", "ci", "author", "platform-team")
    token = manage(env, "token", "create", "--as", "ci", "pipeline").strip().splitlines()[-1]
    port = free_port()
    procs = []
    # The command the systemd unit runs: it reads its queue from the environment above.
    worker = [sys.executable, "-m", "drills.cli.main", "orchestrator", "--name", "gate"]
    for name, argv in (("web", web_argv(port)), ("orchestrator", worker)):
        log = (tmp_path / f"{name}.log").open("ab")
        procs.append(
            subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/api/v1/schema/", timeout=2)  # noqa: S310
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "web.log").read_text()
                time.sleep(0.3)
        pipeline = {k: v for k, v in os.environ.items() if not k.startswith("DRILLHALL_")}
        pipeline.update(DRILLHALL_TOKEN=token, PYTHONPATH=str(ROOT))
        yield Live(url, pipeline)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def gate(live: Live, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drills.cli.main", "run", *argv, "--server", live.url],
        cwd=ROOT, env=live.env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_the_gate_exits_0_1_and_2_and_writes_junit(live: Live, tmp_path: Path) -> None:
    passing = tmp_path / "wait-only.yaml"
    passing.write_text(PLAYBOOK.read_text())
    out = gate(live, str(passing), "--junit", str(tmp_path / "pass.xml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "wait-only: saved as a new playbook (v1)" in out.stdout
    assert "verdict: passed" in out.stdout
    # In a pipe: the sentences as plain lines, no progress line rewritten in place.
    assert "step 1 “wait 1s” started: wait for 1 s\n" in out.stdout
    assert "\r" not in out.stdout and "\x1b" not in out.stdout
    again = gate(live, str(passing))
    assert again.returncode == 0 and "saved" not in again.stdout  # the same text: no version

    failing = tmp_path / "failing.yaml"
    failing.write_text(
        PLAYBOOK.read_text().replace("name: wait-only", "name: wait-fails")
        + "slas:\n  - {name: nothing answers, assert: 'error_rate(nothing, 1s) < 1%', "
        "during: always}\n"
    )
    out = gate(live, str(failing), "--junit", str(tmp_path / "fail.xml"))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "verdict: failed" in out.stdout
    suite = next(iter(junitparser.JUnitXml.fromfile(str(tmp_path / "fail.xml"))))
    failed = [case.name for case in suite if not case.is_passed]
    assert any("nothing answers" in name for name in failed), failed
    assert junitparser.JUnitXml.fromfile(str(tmp_path / "pass.xml"))

    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(PLAYBOOK.read_text().replace("  - wait: 1s", "  - wiat: 1s"))
    out = gate(live, str(invalid))
    assert out.returncode == 2
    line = 1 + PLAYBOOK.read_text().splitlines().index("  - wait: 1s")
    assert f"{invalid}:{line}:5: expected a step with 'wait'" in out.stderr


def test_on_a_terminal_the_gate_rewrites_a_progress_line_for_the_running_step(
    live: Live, tmp_path: Path
) -> None:
    playbook = tmp_path / "wait-only.yaml"
    playbook.write_text(PLAYBOOK.read_text().replace("wait: 1s", "wait: 3s"))
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "drills.cli.main", "run", str(playbook), "--server", live.url],
        cwd=ROOT, env=live.env, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary,
    )  # fmt: skip
    os.close(secondary)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the child closed the terminal: it has ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert proc.wait(timeout=30) == 0, b"".join(chunks).decode(errors="replace")
    shown = b"".join(chunks).decode()
    assert "verdict: passed" in shown
    # The step's line, drawn and rewritten in place (carriage return, erase) as time goes on.
    lines = re.findall(r"step 1 “wait 3s” \[[#-]{20}\] (\d+\.\d) of 3 s", shown)
    assert len(lines) >= 2, shown
    assert float(lines[-1]) > float(lines[0]), lines
    assert "\r\x1b[K" in shown


def test_without_a_token_the_gate_says_how_to_get_one(live: Live, tmp_path: Path) -> None:
    env = dict(live.env)
    env.pop("DRILLHALL_TOKEN")
    out = subprocess.run(
        [sys.executable, "-m", "drills.cli.main", "run", str(PLAYBOOK), "--server", live.url],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 4
    assert "--server needs an API token" in out.stderr
    env["DRILLHALL_TOKEN"] = "dh_not-a-token"
    out = subprocess.run(
        [sys.executable, "-m", "drills.cli.main", "run", str(PLAYBOOK), "--server", live.url],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 4, out.stdout + out.stderr
