"""`drillhall orchestrator`, what each systemd instance runs: it becomes the Celery worker
(the same process, so systemd's signals reach it), serving the run queue and the agents'
registrations with a thread per admitted run. Asked through Celery's remote control."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from celery import Celery

from drills.cli.workers import node_name
from injector.credentials import server_redis_url
from injector.protocol import REGISTER_QUEUE
from tests.cli.conftest import ROOT


def test_an_orchestrator_serves_runs_and_registrations_with_a_thread_per_admitted_run(
    env: dict[str, str], tmp_path: Path
) -> None:
    queue = f"orch-{uuid.uuid4().hex[:8]}"
    name = f"orchestrator-{uuid.uuid4().hex[:8]}"
    node = node_name(name)
    env = {**env, "DRILLHALL_ORCHESTRATOR_QUEUE": queue, "DRILLHALL_MAX_RUNS": "7"}
    with (tmp_path / "orchestrator.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "drills.cli.main", "orchestrator", "--name", name],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    app = Celery(broker=server_redis_url(env["REDIS_URL"]))
    try:
        deadline = time.monotonic() + 60
        queues = None
        while queues is None:
            assert proc.poll() is None, (tmp_path / "orchestrator.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "orchestrator.log").read_text()
            answer = app.control.inspect(destination=[node], timeout=1).active_queues() or {}
            queues = answer.get(node)
        stats = (app.control.inspect(destination=[node], timeout=5).stats() or {})[node]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        app.close()
    assert sorted(q["name"] for q in queues) == sorted([queue, REGISTER_QUEUE])
    assert stats["pool"]["max-concurrency"] == 7 + 8  # DRILLHALL_MAX_RUNS and a few
    assert stats["pid"] == proc.pid  # the command became the worker
