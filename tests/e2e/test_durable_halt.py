"""A halt that nothing but a release lifts: halt, restart Redis, restart an agent; a drill is
still refused until an admin releases, and then it passes.

The test has a Redis of its own (no persistence: a restart loses every key, as the embedded
Redis does), its own database, orchestrator worker and db1 agent; it borrows only the lab of the
session stack. Every effect is seen from outside: ping across the lab, `nft list tables` in
db1, the agent's ledger and halt copy on disk, the keys in Redis, the CLI's exit codes.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings

from drills.cli import workers
from injector.halt import HALT_KEY
from injector.ledger import Ledger
from injector.protocol import (
    AgentTask,
    FaultSpec,
    Refusal,
    RunTicket,
    agent_task_id,
    new_run_key,
)
from injector.signing import agent_key_path, load_key, sign
from tests.conftest import free_port, server_redis_url
from tests.e2e.stack import (
    ROOT,
    Stack,
    active_queues,
    cli,
    ensure_cli_user,
    manage,
    nft_tables,
    ns_ping,
    start_redis,
)

REASON = "e2e durable halt"
SHORT_PARTITION = ROOT / "tests" / "fixtures" / "playbooks" / "e2e" / "short-partition.yaml"


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:g} s")


def db1_clean() -> bool:
    return ns_ping("dh-web", "10.77.0.3") and not nft_tables("dh-db1")


class OwnStack:
    """Redis, database, orchestrator and db1 agent of this test alone."""

    def __init__(self, stack: Stack, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.broker = f"redis://127.0.0.1:{self.port}/0"
        self.sqlite = tmp / "own.sqlite3"
        self.agent_state = tmp / "agent-db1"
        # The stack's state dir: the CLI must find the stack's lab there.
        self.env = {
            **stack.env,
            "REDIS_URL": self.broker,
            "DRILLHALL_SQLITE_PATH": str(self.sqlite),
            "DRILLHALL_HALT_SYNC_SECONDS": "1",
        }
        self.redis = start_redis(self.port, tmp / "redis.log")
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str]) -> None:
        self.procs[name] = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=(self.tmp / f"{name}.log").open("ab"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def start_orchestrator(self) -> None:
        self.start("orchestrator", workers.orchestrator_argv(f"orch-halt-{self.port}"))

    def start_agent(self) -> None:
        # On this test's own broker, through the bridge, as the lab's agents reach theirs.
        argv = [*workers.agent_argv("db1", "dh-db1", self.broker)]
        argv += ["--state-dir", str(self.agent_state)]
        self.start("agent", argv)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def restart_redis(self) -> None:
        self.redis.send_signal(signal.SIGKILL)
        self.redis.wait(timeout=10)
        self.redis = start_redis(self.port, self.tmp / "redis.log")

    def wait_queues(self, wanted: set[str]) -> None:
        def up() -> bool:
            try:
                # Agents answer pings, not Celery's remote control (their Redis users may not).
                return wanted <= active_queues(self.broker, wanted - {"orchestrator"})
            except redis.RedisError:  # a connection from before the restart
                return False

        wait_for(up, 40, f"workers for {wanted}")

    def halt_key(self) -> dict[str, object] | None:
        raw = redis.Redis.from_url(server_redis_url(self.broker)).get(HALT_KEY)
        return None if raw is None else json.loads(raw)

    def registered(self, host: str) -> bool:
        with sqlite3.connect(self.sqlite) as db:
            row = db.execute("SELECT agent_queue FROM drills_host WHERE name = ?", (host,))
            return row.fetchone() is not None

    def drill(self) -> subprocess.CompletedProcess[str]:
        """`drillhall run` of a short partition; db1 is watched from outside all along."""
        ensure_cli_user(self.env)  # drillhall run acts as a named user (DRILLHALL_USER)
        proc = subprocess.Popen(
            [*cli_argv(), "run", str(SHORT_PARTITION)], cwd=ROOT, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        cut = False
        while proc.poll() is None:
            cut = cut or not ns_ping("dh-web", "10.77.0.3")
            time.sleep(0.2)
        out, _ = proc.communicate(timeout=10)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out + f"\ncut={cut}", "")

    def down(self) -> None:
        for name in list(self.procs):
            self.stop(name)
        if self.redis.poll() is None:
            self.redis.kill()
            self.redis.wait(timeout=5)


def cli_argv() -> list[str]:
    return [sys.executable, "-m", "drills.cli.main"]


@pytest.fixture
def own(stack: Stack, tmp_path: Path) -> Iterator[OwnStack]:
    assert db1_clean(), "db1 is partitioned before the test: an earlier test left a fault"
    s = OwnStack(stack, tmp_path)
    try:
        manage(s.env, "migrate", "-v0")
        manage(
            s.env, "shell", "-c",
            "from django.contrib.auth.models import User; "
            "from drills.cli.labctl import register_present; "
            "User.objects.create_user('max'); User.objects.create_superuser('ada'); "
            "register_present()",
        )  # fmt: skip
        yield s
    finally:
        s.down()
        wait_for(db1_clean, 10, "db1 whole again")


def test_a_halt_outlives_a_redis_restart_and_an_agent_restart_until_an_admin_releases(
    own: OwnStack,
) -> None:
    started = time.monotonic()
    own.start_orchestrator()
    own.start_agent()
    own.wait_queues({"orchestrator", "agent.db1"})
    wait_for(lambda: own.registered("db1"), 20, "db1's agent registered in the inventory")

    # Any user halts; the agent keeps the halt on disk.
    halted = cli(own.env, "halt", "--as", "max", "--reason", REASON)
    assert halted.returncode == 0, halted.stderr + halted.stdout
    assert "agent.db1" in halted.stdout
    copy = own.agent_state / "halt.json"
    wait_for(copy.exists, 10, "the agent's own copy of the halt")
    assert json.loads(copy.read_text())["reason"] == REASON

    # Nothing of the server runs to put the halt back, Redis comes back empty, the agent restarts.
    own.stop("orchestrator")
    own.restart_redis()
    assert own.halt_key() is None
    own.stop("agent")
    own.start_agent()
    own.wait_queues({"agent.db1"})

    # A fault sent straight to the agent, signed and for a run it was told about (as the
    # orchestrator would send it), is refused: its own copy says halted.
    url = server_redis_url(own.broker)
    app = Celery(broker=url, backend=url)
    spec = FaultSpec(
        new_run_key(), 1, 1, "network.partition",
        {"host": "db1", "peers": ["10.77.0.2"], "direction": "both"}, 10.0,
    )  # fmt: skip
    key = load_key(agent_key_path(settings.DRILLHALL_CREDENTIALS_DIR, "db1"))
    expires = time.time() + 60
    ticket = RunTicket(spec.run, "db1", 30.0, expires).to_json()
    try:
        admitted = app.send_task(
            AgentTask.ADMIT,
            args=[sign(key, AgentTask.ADMIT, "db1", ticket, expires).to_json()],
            queue="agent.db1",
            task_id=agent_task_id("db1"),  # the agent's Redis user writes only such replies
        )
        assert Refusal.from_reply(admitted.get(timeout=20)) is None
        signed = sign(key, AgentTask.APPLY, "db1", spec.to_json(), expires).to_json()
        reply = app.send_task(
            AgentTask.APPLY, args=[signed], queue="agent.db1", task_id=agent_task_id("db1")
        )
        refusal = Refusal.from_reply(reply.get(timeout=20))
    finally:
        app.close()
    assert refusal is not None and refusal.message == f"halted: {REASON}", reply
    assert Ledger(own.agent_state).get(spec.fault_id) is None  # never even intended
    assert db1_clean()

    # The server comes back and puts the halt into Redis again, from its database.
    own.start_orchestrator()
    own.wait_queues({"orchestrator"})
    wait_for(lambda: own.halt_key() is not None, 10, "the halt re-published in Redis")
    assert own.halt_key() == json.loads(copy.read_text())

    # A drill is refused; the partition never happens.
    refused = own.drill()
    print(f"while halted:\n{refused.stdout}")
    assert refused.returncode == 3, refused.stdout
    assert f"halted: {REASON}" in refused.stdout and "cut=False" in refused.stdout
    assert "fault applied" not in refused.stdout

    # Only an admin releases.
    denied = cli(own.env, "release", "--as", "max")
    assert denied.returncode == 2 and "only an admin may release" in denied.stderr
    assert own.halt_key() is not None
    released = cli(own.env, "release", "--as", "ada")
    assert released.returncode == 0, released.stderr + released.stdout
    assert "released by ada" in released.stdout
    wait_for(lambda: not copy.exists(), 10, "the agent dropping its copy")

    passed = own.drill()
    print(f"after the release:\n{passed.stdout}")
    assert passed.returncode == 0, passed.stdout
    assert "fault applied" in passed.stdout and "cut=True" in passed.stdout
    took = time.monotonic() - started
    print(f"halt, Redis restart, agent restart, refusal, release and a passing drill: {took:.1f} s")
    assert took < 100
