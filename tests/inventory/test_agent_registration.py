"""Agents register their host when they start: real agent, real orchestrator worker, Redis.

The agent (supervisor + Celery worker) sends ``drillhall.register_host`` by name, as its own
Redis user, to the registrations queue (the only queue that user may push to); an orchestrator
worker of the Django app stores it in its own SQLite file. The tests' Redis database is the
suite's own, so no other orchestrator takes the task.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from injector.host import Registration, netns_ipv4, parse_label, parse_service
from injector.protocol import REGISTER_QUEUE
from injector.signing import ensure_agent_key
from tests.conftest import enrolled, have_root, require, run
from tests.conftest import test_redis_url as broker_url

ROOT = Path(__file__).resolve().parents[2]
HOST = f"reg-{os.getpid()}"
QUEUE = REGISTER_QUEUE


def wait_for(condition: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    return condition()


def host_row(db: Path) -> dict[str, Any] | None:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM drills_host WHERE name = ?", (HOST,)).fetchone()
            if row is None:
                return None
            services = conn.execute(
                "SELECT name, port, kind FROM drills_service WHERE host_id = ?", (row["id"],)
            ).fetchall()
            return {**dict(row), "services": [tuple(s) for s in services]}
    except sqlite3.OperationalError:
        return None


class Procs:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env = tmp, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("ab")
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.procs[name] = proc
        return proc

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{(self.tmp / f'{name}.log').read_text(errors='replace')[-3000:]}"
            for name in self.procs
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@pytest.fixture
def stack(tmp_path: Path, needs_redis: str) -> Iterator[tuple[Procs, Path]]:
    db = tmp_path / "drillhall.sqlite3"
    env = dict(os.environ)
    env.update(
        REDIS_URL=broker_url(),  # each process adds its own Redis user
        DRILLHALL_SQLITE_PATH=str(db),
        DRILLHALL_STATE_DIR=str(tmp_path / "state"),
        DJANGO_SETTINGS_MODULE="drillhall.settings",
        PYTHONPATH=str(ROOT),
    )
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    procs = Procs(tmp_path, env)
    try:
        with enrolled(HOST):
            try:
                yield procs, db
            finally:
                procs.stop()
    finally:
        client = redis.Redis.from_url(needs_redis)
        for queue in (QUEUE, f"agent.{HOST}"):
            client.delete(queue, f"_kombu.binding.{queue}")


def test_agent_registers_its_host_and_again_after_a_worker_restart(
    stack: tuple[Procs, Path], tmp_path: Path, needs_redis: str
) -> None:
    procs, db = stack
    procs.start("orchestrator", [
        sys.executable, "-m", "celery", "-A", "drillhall", "worker", "-Q", QUEUE, "-P", "solo",
        "-n", f"{QUEUE}@%h", "--without-gossip", "--without-mingle", "-l", "INFO",
    ])  # fmt: skip
    agent_state = tmp_path / "agent"
    key_file = ensure_agent_key(tmp_path / "credentials", HOST)
    procs.start("agent", [
        sys.executable, "-m", "injector.supervisor", "--host", HOST, "--key-file", str(key_file),
        "--state-dir", str(agent_state), "--redis-url", broker_url(),
        "--address", "127.0.0.9", "--label", "role=web", "--label", "zone=a",
        "--service", "app:8080:http",
    ])  # fmt: skip

    row = wait_for(lambda: host_row(db), timeout=60)
    assert row is not None, procs.logs()
    assert (row["address"], row["agent_queue"], row["netns"]) == ("127.0.0.9", f"agent.{HOST}", "")
    assert row["labels"] == '{"role": "web", "zone": "a"}'
    assert row["services"] == [("app", 8080, "http")]
    assert row["protected"] == 0

    # An admin protects the host and moves it; a restarted worker registers again with its
    # old address: the registration cannot move the host back, and says so in the log.
    with sqlite3.connect(db, timeout=5) as conn:
        conn.execute(
            "UPDATE drills_host SET protected = 1, address = '127.0.0.1' WHERE name = ?", (HOST,)
        )
    worker_pid = int((agent_state / "worker.pid").read_text())
    os.kill(worker_pid, signal.SIGKILL)
    refused = (
        f"host registration refused: a registration for the known host {HOST} was refused: "
        "it would change its address from 127.0.0.1 to 127.0.0.9"
    )
    orchestrator_log = tmp_path / "orchestrator.log"
    assert wait_for(lambda: refused in orchestrator_log.read_text(), timeout=60), procs.logs()
    again = host_row(db)
    assert again is not None and again["address"] == "127.0.0.1" and again["protected"] == 1


def test_labels_and_services_from_the_command_line_are_checked() -> None:
    assert parse_label("role=db") == ("role", "db")
    assert parse_service("redis:6379:redis") == {"name": "redis", "port": 6379, "kind": "redis"}
    assert parse_service("app:8080") == {"name": "app", "port": 8080, "kind": ""}
    for bad in ("redis", "redis:port", "redis:0", "redis:70000"):
        with pytest.raises(ValueError):
            parse_service(bad)
    with pytest.raises(ValueError):
        parse_label("role")


def test_registration_payload_comes_from_the_worker_environment() -> None:
    env = {
        "DRILLHALL_AGENT_HOST": "db1",
        "DRILLHALL_AGENT_NETNS": "dh-db1",
        "DRILLHALL_AGENT_ADDRESS": "10.77.0.3",
        "DRILLHALL_AGENT_LABELS": '{"role": "db"}',
        "DRILLHALL_AGENT_SERVICES": '[{"name": "redis", "port": 6379, "kind": "redis"}]',
    }
    registration = Registration.from_env(env)
    assert registration.queue_name == "registrations"
    assert registration.payload(registration.resolve_address()) == {
        "host": "db1",
        "address": "10.77.0.3",
        "queue": "agent.db1",
        "netns": "dh-db1",
        "labels": {"role": "db"},
        "services": [{"name": "redis", "port": 6379, "kind": "redis"}],
    }


def test_netns_agent_without_address_reads_the_namespace_ipv4() -> None:
    require(have_root(), "needs root (network namespaces)")
    ns = f"dhreg-{os.getpid()}"
    run(["ip", "netns", "add", ns])
    try:
        run(["ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"])
        run(["ip", "-n", ns, "addr", "add", "198.18.7.9/24", "dev", "eth0"])
        run(["ip", "-n", ns, "addr", "add", "fd00::9/64", "dev", "eth0"])
        registration = Registration(host="x", netns=ns, address=None)
        assert registration.resolve_address() == "198.18.7.9"
        assert netns_ipv4(ns, "lo") is None  # lo has no IPv4 until it is up
        assert Registration(host="x", netns=ns, address="10.0.0.1").resolve_address() == "10.0.0.1"
    finally:
        run(["ip", "netns", "del", ns], check=False)
