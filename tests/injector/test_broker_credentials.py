"""A spec sent with the wrong credentials is refused by Redis itself and never reaches the
agent, while the same agent serves the server's own requests.

A real agent (supervisor + Celery worker, as its own Redis user ``agent-h1``) on a throwaway
Redis with Drillhall's users (tests/acl_broker.py). The forgers publish with Celery, as an
attacker on the network would: a wrong password for the server's user, no user at all, and
the right password of another agent (whose user may not write h1's queue).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from kombu.exceptions import OperationalError

from injector.credentials import ENV, SERVER_USER, agent_user
from injector.ledger import Ledger
from injector.protocol import AgentTask, FaultSpec, PingRequest, agent_task_id, new_run_key
from injector.signing import ensure_agent_key
from tests.acl_broker import AclBroker, acl_broker

ROOT = Path(__file__).resolve().parents[2]
HOST = "h1"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[AclBroker]:
    with acl_broker(tmp_path, [HOST, "h2"]) as b:
        yield b


@pytest.fixture
def agent(broker: AclBroker, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """h1's agent, given the broker's URL without a password (it adds its own)."""
    state, log = tmp_path / "agent", tmp_path / "agent.log"
    env = {**os.environ, ENV: str(broker.credentials), "PYTHONPATH": str(ROOT)}
    key = ensure_agent_key(broker.credentials, HOST)
    proc = subprocess.Popen(
        [sys.executable, "-m", "injector.supervisor", "--host", HOST, "--state-dir", str(state),
         "--redis-url", broker.url, "--address", "127.0.0.9", "--key-file", str(key)],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield state, log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def server_app(broker: AclBroker) -> Celery:
    url = broker.url_of(SERVER_USER)
    return Celery("server", broker=url, backend=url)


def wait_for_ping(broker: AclBroker, log: Path, timeout: float = 40) -> dict[str, object]:
    app = server_app(broker)
    deadline = time.monotonic() + timeout
    try:
        while True:
            result = app.send_task(
                AgentTask.PING, args=[PingRequest().to_json()], queue=f"agent.{HOST}",
                expires=2, task_id=agent_task_id(HOST),
            )  # fmt: skip
            try:
                return result.get(timeout=2)  # type: ignore[no-any-return]
            except Exception:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
            finally:
                result.forget()
    finally:
        app.close()


def forge(url: str, spec: FaultSpec) -> OperationalError:
    """Publish ``spec`` to h1's queue as ``url``'s user; the broker's refusal."""
    app = Celery("forger", broker=url)
    try:
        with pytest.raises(OperationalError) as err:
            app.send_task(
                AgentTask.APPLY, args=[spec.to_json()], queue=f"agent.{HOST}",
                task_id=agent_task_id(HOST), ignore_result=True, retry=False,
            )  # fmt: skip
        return err.value
    finally:
        app.close()


def test_a_spec_with_wrong_credentials_is_refused_by_redis_and_never_reaches_the_agent(
    broker: AclBroker, agent: tuple[Path, Path]
) -> None:
    state, log = agent
    assert wait_for_ping(broker, log) == {"host": HOST, "netns": None, "active": []}
    admin = broker.admin()
    admin.execute_command("ACL", "LOG", "RESET")
    spec = FaultSpec(new_run_key(), 1, 1, "stress.cpu", {"host": HOST, "cores": 1}, 30)

    wrong = forge(f"redis://{SERVER_USER}:not-the-password@127.0.0.1:{broker.port}/0", spec)
    assert isinstance(wrong.__cause__, redis.AuthenticationError), repr(wrong)
    assert "invalid username-password pair" in str(wrong)
    nobody = forge(broker.url, spec)
    assert isinstance(nobody.__cause__, redis.AuthenticationError), repr(nobody)
    other_agent = forge(broker.url_of(agent_user("h2")), spec)
    assert isinstance(other_agent.__cause__, redis.exceptions.NoPermissionError), repr(other_agent)

    # Redis says so itself: a failed login as drillhall, and agent-h2 refused h1's queue.
    entries = [dict(zip(e[::2], e[1::2], strict=True)) if isinstance(e, list) else e
               for e in admin.execute_command("ACL", "LOG")]  # fmt: skip
    seen = {(_text(e[b"reason"]), _text(e[b"username"]), _text(e[b"object"])) for e in entries}
    assert ("auth", SERVER_USER, "AUTH") in seen or ("auth", SERVER_USER, "HELLO") in seen, seen
    assert any(r == "key" and u == agent_user("h2") and o == f"agent.{HOST}" for r, u, o in seen)

    # Nothing reached the agent: its queue is empty, its ledger never heard of the fault,
    # and its worker never received an apply. It still answers the server.
    assert admin.llen(f"agent.{HOST}") == 0
    admin.close()
    assert wait_for_ping(broker, log)["active"] == []
    assert Ledger(state).get(spec.fault_id) is None
    assert "Task drillhall.agent.ping[" in log.read_text()  # what the worker logs per task
    assert "Task drillhall.agent.apply[" not in log.read_text()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
