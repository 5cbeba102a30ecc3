"""Forged messages published straight to a real agent's queue are refused, logged, and change
nothing: real supervisor and Celery worker, real Redis, a real partition fault in two network
namespaces of the test's own (no lab).

Anyone who can write to the broker can do what this test does. Each forged request must come
back as a permanent Refusal with the agent's sentence, be in the agent's log, leave the ledger
empty and let packets flow; then one request signed as the orchestrator signs it does apply,
which shows the forged ones were refused for what they were, not because nothing could work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from injector.ledger import Ledger
from injector.protocol import (
    AgentTask,
    ApprovalRecord,
    FaultSpec,
    Refusal,
    RevertRequest,
    agent_queue,
    new_run_key,
)
from injector.signing import ensure_agent_key, load_key, sign
from tests.injector.agent_client import AgentClient
from tests.injector.netlab import NetPair

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HOST = f"forged-{os.getpid()}"
APPROVAL = ApprovalRecord("alice", time.time(), "partition-demo", 3, "a" * 64)


def wait_for(condition: Any, timeout: float, period: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(period)
    return bool(condition())


@pytest.fixture
def broker(needs_redis: str) -> Iterator[Celery]:
    queue = agent_queue(HOST)
    store = redis.Redis.from_url(needs_redis)
    store.delete(queue)
    app = Celery("drillhall-forger", broker=needs_redis, backend=needs_redis)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
    yield app
    app.close()
    store.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


@pytest.fixture
def agent(
    netpair: NetPair, broker: Celery, needs_redis: str, tmp_path: Path
) -> Iterator[tuple[AgentClient, Path, Path]]:
    """A protected host's agent (its own configuration says so), with the default lease cap."""
    key_file = ensure_agent_key(tmp_path / "credentials", HOST)
    state, log_path = tmp_path / "agent", tmp_path / "agent.log"
    env = {**os.environ, "DRILLHALL_AGENT_PROTECTED": "true"}
    env.pop("DRILLHALL_AGENT_MAX_LEASE", None)
    with log_path.open("w") as log_file:
        supervisor = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "injector.supervisor", "--host", HOST, "--netns", netpair.a,
             "--state-dir", str(state), "--redis-url", needs_redis, "--key-file", str(key_file)],
            cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    client = AgentClient(broker, HOST, load_key(key_file))
    try:
        assert wait_for(lambda: (state / "worker.pid").exists(), 15), log_path.read_text()
        assert client.send(AgentTask.PING, {})["host"] == HOST
        yield client, state, log_path
    finally:
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait()
        print(log_path.read_text()[-6000:])  # shown by pytest when the test failed


def partition(netpair: NetPair, run: str, step: int = 1, lease: float = 30) -> FaultSpec:
    return FaultSpec(
        run, step, 1, "network.partition", {"peers": [netpair.addr_b], "host": HOST}, lease
    )


def test_forged_requests_are_refused_logged_and_change_nothing(
    agent: tuple[AgentClient, Path, Path], netpair: NetPair, tmp_path: Path
) -> None:
    client, state, log_path = agent
    other_key = load_key(ensure_agent_key(tmp_path / "credentials", "db2"))
    approved, unknown, unapproved = new_run_key(), new_run_key(), new_run_key()
    assert client.admit(approved, approval=APPROVAL)["run"] == approved
    spec = partition(netpair, approved).to_json()

    def signed(key: bytes, host: str, body: dict[str, Any], ttl: float = 60) -> dict[str, Any]:
        return sign(key, AgentTask.APPLY, host, body, time.time() + ttl).to_json()

    forged: list[tuple[str, AgentTask, Any, str]] = [
        ("unsigned", AgentTask.APPLY, spec,
         "an unsigned request to apply a fault was refused"),
        ("signed with another host's key", AgentTask.APPLY, signed(other_key, HOST, spec),
         f"a request to apply a fault whose signature does not match the key of {HOST}"),
        ("signed for another host", AgentTask.APPLY, signed(client.key, "db2", spec),
         f"signed for host db2 reached the agent of {HOST} and was refused"),
        ("expired", AgentTask.APPLY, signed(client.key, HOST, spec, ttl=-5),
         "a request to apply a fault that expired at"),
        ("for a run the agent was not told about", AgentTask.APPLY,
         signed(client.key, HOST, partition(netpair, unknown).to_json()),
         f"belongs to run {unknown}, which this agent was not told about"),
        ("with a lease over the cap", AgentTask.APPLY,
         signed(client.key, HOST, partition(netpair, approved, 2, lease=3600).to_json()),
         "asks for a lease of 3600 s; this agent allows at most 300 s"),
        ("an unsigned revert", AgentTask.REVERT, RevertRequest(f"r{approved}-s1-a1").to_json(),
         "an unsigned request to revert a fault was refused"),
    ]  # fmt: skip
    said = []
    for what, task, request, sentence in forged:
        refusal = Refusal.from_reply(client.send(task, request))
        assert refusal is not None and refusal.permanent, what
        assert sentence in refusal.message, (what, refusal.message)
        said.append(refusal.message)

    # A protected host without the run's approval: the ticket is refused, so is the spec.
    refusal = Refusal.from_reply(client.admit(unapproved))
    assert refusal is not None
    assert refusal.message == (
        f"{HOST} is a protected host and run {unapproved} carries no approval for it; refused"
    )
    said.append(refusal.message)
    spec_unapproved = signed(client.key, HOST, partition(netpair, unapproved, 3).to_json())
    refusal = Refusal.from_reply(client.send(AgentTask.APPLY, spec_unapproved))
    assert refusal is not None and "was not told about" in refusal.message

    # Nothing was applied: no ledger entry, no nft table, packets flow both ways.
    assert Ledger(state).entries() == []
    assert netpair.nft_tables(netpair.a) == []
    assert netpair.ping(netpair.b, netpair.a) and netpair.ping(netpair.a, netpair.b)
    # ... and every refusal is in the agent's log, as its sentence.
    log = log_path.read_text()
    missing = [sentence for sentence in said if f"refused: {sentence}" not in log]
    assert missing == []

    # The same spec, signed as the orchestrator signs it, is applied: the refusals above were
    # for what the requests were, not an agent that would refuse anything.
    applied = client.call(AgentTask.APPLY, spec)
    assert applied["state"] == "applied", applied
    assert not netpair.ping(netpair.b, netpair.a, wait=0.5)
    reverted = client.call(AgentTask.REVERT, RevertRequest(f"r{approved}-s1-a1").to_json())
    assert reverted["state"] == "reverted"
    assert netpair.ping(netpair.b, netpair.a)
