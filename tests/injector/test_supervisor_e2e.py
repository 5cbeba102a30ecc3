"""The agent as deployed: supervisor + Celery worker + janitor, driven over real Redis."""

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

from injector.faults.partition import PartitionFault
from injector.ledger import EntryState, Ledger
from injector.protocol import (
    AgentTask,
    FaultSpec,
    Refusal,
    RenewRequest,
    RevertRequest,
)
from injector.signing import ensure_agent_key, load_key
from tests.conftest import enrolled
from tests.conftest import test_redis_url as broker_url
from tests.injector.agent_client import AgentClient
from tests.injector.netlab import NetPair

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The brief's "t1", made unique so that a concurrent run on the same Redis cannot steal tasks.
HOST = f"t1-{os.getpid()}"
LEASE = 3.0


def wait_for(condition, timeout: float, period: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(period)
    return bool(condition())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def entry_state(state_dir: Path, fault_id: str) -> EntryState | None:
    entry = Ledger(state_dir).get(fault_id)
    return None if entry is None else entry.state


@pytest.fixture
def client(needs_redis: str) -> Iterator[Celery]:
    # Messages left in the queue by an earlier, aborted run must not reach this agent.
    redis.Redis.from_url(needs_redis).delete(f"agent.{HOST}")
    app = Celery("drillhall-test-client", broker=needs_redis, backend=needs_redis)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
    # The agent reaches Redis as its own user, as an enrolled host's does.
    with enrolled(HOST):
        yield app
    app.close()
    client_redis = redis.Redis.from_url(needs_redis)
    client_redis.delete(
        f"agent.{HOST}", f"_kombu.binding.agent.{HOST}", f"_kombu.binding_permanent.agent.{HOST}"
    )


@pytest.fixture
def supervisor_log(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "supervisor.log"
    yield path
    if path.exists():  # shown by pytest only when the test failed
        print(path.read_text()[-6000:])


def test_agent_reverts_on_its_own_when_the_worker_dies(
    netpair: NetPair, client: Celery, needs_redis: str, tmp_path: Path, supervisor_log: Path
) -> None:
    state = tmp_path / "agent"
    # A fault left applied by a previous agent that died: the new one must clean it up.
    leftover = FaultSpec("9", 1, 1, "network.partition", {"peers": [netpair.addr_b]}, 3600)
    Ledger(state).intend(leftover, netpair.a, time.time() + 3600)
    PartitionFault(leftover, netpair.a).apply()
    assert netpair.nft_tables(netpair.a) == ["drillhall_r9_s1"]

    key_file = ensure_agent_key(tmp_path / "credentials", HOST)
    agent = AgentClient(client, HOST, load_key(key_file))
    with supervisor_log.open("w") as log_file:
        supervisor = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "injector.supervisor", "--host", HOST, "--netns", netpair.a,
             "--state-dir", str(state), "--redis-url", broker_url(), "--key-file", str(key_file)],
            cwd=PROJECT_ROOT, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        assert wait_for(lambda: read_pid(state / "worker.pid") is not None, 10)
        assert read_pid(state / "supervisor.pid") == supervisor.pid
        assert netpair.nft_tables(netpair.a) == []  # start-up reverted the leftover

        call = agent.call
        assert agent.admit("1")["run"] == "1"

        # Refusals come back as a Refusal reply with the agent's sentence.
        refused = Refusal.from_reply(
            call(
                AgentTask.APPLY,
                FaultSpec(
                    "1", 1, 1, "network.partition", {"peers": [netpair.addr_b], "host": "t2"}, LEASE
                ).to_json(),
            )  # fmt: skip
        )
        assert refused is not None and refused.permanent and "t2" in refused.message
        assert call(AgentTask.REVERT, RevertRequest("r1-s1-a1").to_json())["state"] == "unknown"

        spec = FaultSpec("1", 2, 1, "network.partition",
                         {"peers": [netpair.addr_b], "host": HOST}, LEASE)  # fmt: skip
        applied = call(AgentTask.APPLY, spec.to_json())
        assert applied == {**applied, "fault_id": "r1-s2-a1", "state": "applied", "host": HOST}
        renewed = call(AgentTask.RENEW, RenewRequest("r1-s2-a1", LEASE).to_json())
        assert renewed["renewed"] is True
        assert not netpair.ping(netpair.b, netpair.a, wait=0.5)
        assert not netpair.ping(netpair.a, netpair.b, wait=0.5)

        worker_pid = read_pid(state / "worker.pid")
        assert worker_pid is not None
        os.kill(worker_pid, signal.SIGKILL)
        entry = Ledger(state).get("r1-s2-a1")
        assert entry is not None and entry.state is EntryState.APPLIED
        deadline = entry.lease_deadline

        # Nobody asks for a revert: the supervisor sees its worker die and reverts what the
        # ledger says is applied, before the lease would have run out.
        assert wait_for(lambda: netpair.ping(netpair.b, netpair.a, wait=0.2), LEASE + 3, 0.05)
        restored_at = time.time()
        print(f"restored {restored_at - deadline:+.2f} s after the lease deadline")
        assert restored_at <= deadline + 1.0, f"restored {restored_at - deadline:.2f} s late"
        # The table goes first; the ledger says REVERTED once is_active() has confirmed it.
        assert wait_for(lambda: entry_state(state, "r1-s2-a1") is EntryState.REVERTED, 2)
        reverted = Ledger(state).get("r1-s2-a1")
        assert reverted is not None
        # Whichever came first (the dead worker noticed, or the lease ran out), nobody asked.
        assert reverted.history[-1].get("detail") in {"worker died", "lease expired"}

        # ... and the dead worker is replaced.
        assert wait_for(lambda: read_pid(state / "worker.pid") not in (None, worker_pid), 5)
        new_worker_pid = read_pid(state / "worker.pid")
        assert new_worker_pid is not None
        assert call(AgentTask.PING, {}) == {"host": HOST, "netns": netpair.a, "active": []}

        # A fault still applied at shutdown is reverted by the shutdown.
        call(AgentTask.APPLY, FaultSpec("1", 3, 1, "network.partition",
             {"peers": [netpair.addr_b]}, 60).to_json())  # fmt: skip
        assert netpair.nft_tables(netpair.a) == ["drillhall_r1_s3"]

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=20) == 0
        assert not any(t.startswith("drillhall") for t in netpair.nft_tables(netpair.a))
        assert netpair.ping(netpair.b, netpair.a)
        assert not alive(new_worker_pid) and not alive(worker_pid)
        assert not (state / "supervisor.pid").exists() and not (state / "worker.pid").exists()
        assert Ledger(state).active() == []
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait()
