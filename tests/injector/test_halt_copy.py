"""An agent's own copy of a halt: kept on disk, obeyed after a restart, lifted only by a release.

No Django here. The copy's own rules use no Redis; the agent's rules run against a real Redis
(the tests' database, keys of their own), including a redis-server of the test's own that is
restarted without its data, as a crashed broker would come back.
"""

from __future__ import annotations

import argparse
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from injector.faults.fault import FaultError
from injector.halt import HALT_KEY, AgentHalt, HaltCopy, HaltFlag, HaltRelease, HaltState
from injector.host import HostAgent
from injector.janitor import Janitor
from injector.ledger import Ledger
from injector.supervisor import Supervisor
from tests.conftest import free_port, server_redis_url
from tests.e2e.stack import start_redis
from tests.injector.fakes import FakeSystem, fake_spec

HALT = HaltState("db1 on fire", 1000.0, "max")


@pytest.fixture
def flag(needs_redis: str) -> Iterator[HaltFlag]:
    f = HaltFlag.from_url(needs_redis, key=f"{HALT_KEY}:copy-test")
    f.clear()
    f.forget_release()
    try:
        yield f
    finally:
        f.clear()
        f.forget_release()
        f.close()


@pytest.fixture
def system() -> FakeSystem:
    return FakeSystem()


def agent_in(directory: Path, system: FakeSystem, flag: HaltFlag | None) -> HostAgent:
    """A fresh agent on ``directory``: what a restarted worker builds."""
    return HostAgent("db1", None, Ledger(directory), system.factory, halt_flag=flag)


# -- the copy on disk -------------------------------------------------------------------------


def test_a_kept_halt_outlives_the_object_that_kept_it(tmp_path: Path) -> None:
    assert HaltCopy(tmp_path).get() is None
    assert HaltCopy(tmp_path).keep(HALT) is True
    assert HaltCopy(tmp_path).get() == HALT  # a new process reads it back
    assert json.loads((tmp_path / "halt.json").read_text())["reason"] == "db1 on fire"
    assert not list(tmp_path.glob(".*.tmp"))  # written by rename: no half file left


def test_keeping_the_same_or_an_older_halt_changes_nothing(tmp_path: Path) -> None:
    copy = HaltCopy(tmp_path)
    copy.keep(HALT)
    assert copy.keep(HALT) is False
    assert copy.keep(HaltState("older", 999.0)) is False
    assert copy.get() == HALT
    newer = HaltState("newer", 1001.0, "ada")
    assert copy.keep(newer) is True and copy.get() == newer


def test_a_release_lifts_its_halt_and_earlier_ones_never_a_later_one(tmp_path: Path) -> None:
    copy = HaltCopy(tmp_path)
    copy.keep(HALT)
    assert copy.release(HaltRelease(999.0)) is None  # an older halt's release
    assert copy.get() == HALT
    assert copy.release(HaltRelease(1000.0)) == HALT
    assert copy.get() is None and not (tmp_path / "halt.json").exists()
    copy.keep(HALT)
    assert copy.release(HaltRelease(5000.0)) == HALT  # a later release covers it too


def test_a_damaged_copy_still_means_halted(tmp_path: Path) -> None:
    (tmp_path / "halt.json").write_text("{half a fi")
    state = HaltCopy(tmp_path).get()
    assert state is not None and "half a fi" in state.reason


def test_without_redis_the_copy_alone_decides(tmp_path: Path) -> None:
    halts = AgentHalt(HaltCopy(tmp_path), None)
    assert halts.current() is None
    assert halts.hear_halt(HALT) is True and halts.current() == HALT
    assert halts.hear_release(HaltRelease(1000.0)) == HALT and halts.current() is None


# -- the agent: its copy against what Redis says ---------------------------------------------


def test_an_agent_keeps_the_halt_it_reads_from_redis(tmp_path: Path, flag: HaltFlag) -> None:
    flag.publish(HALT)
    halts = AgentHalt(HaltCopy(tmp_path), flag)
    assert halts.current() == HALT and HaltCopy(tmp_path).get() == HALT


def test_a_missing_key_is_not_a_release(tmp_path: Path, flag: HaltFlag) -> None:
    HaltCopy(tmp_path).keep(HALT)
    halts = AgentHalt(HaltCopy(tmp_path), flag)
    assert flag.get() is None and flag.released() is None  # Redis came back empty
    assert halts.current() == HALT
    flag.release(HaltRelease(999.0, "ada"), lift=False)  # an earlier halt's release
    assert halts.current() == HALT
    flag.release(HaltRelease(1000.0, "ada"), lift=False)
    assert halts.current() is None and HaltCopy(tmp_path).get() is None


def test_a_later_halt_in_redis_replaces_the_kept_one(tmp_path: Path, flag: HaltFlag) -> None:
    HaltCopy(tmp_path).keep(HALT)
    later = HaltState("again", 2000.0, "ada")
    flag.publish(later)
    assert AgentHalt(HaltCopy(tmp_path), flag).current() == later
    assert HaltCopy(tmp_path).get() == later
    # The release of the first halt, arriving late, lifts nothing.
    assert AgentHalt(HaltCopy(tmp_path), flag).hear_release(HaltRelease(1000.0)) is None
    assert HaltCopy(tmp_path).get() == later


def test_a_kept_halt_holds_while_redis_is_unreachable(tmp_path: Path) -> None:
    blind = HaltFlag.from_url(f"redis://127.0.0.1:{free_port()}/0")
    HaltCopy(tmp_path).keep(HALT)
    assert AgentHalt(HaltCopy(tmp_path), blind).current() == HALT


def test_a_restarted_agent_refuses_every_apply_until_it_hears_the_release(
    tmp_path: Path, system: FakeSystem, flag: HaltFlag
) -> None:
    first = agent_in(tmp_path, system, flag)
    first.apply(fake_spec(step=1, lease=60).to_json())
    reply = first.halt(since=HALT.since, reason=HALT.reason, by=HALT.by)  # the broadcast
    assert reply["reverted"] == ["r1-s1-a1"] and system.applied == set()

    restarted = agent_in(tmp_path, system, flag)  # Redis lost everything meanwhile
    for step in (2, 3):
        with pytest.raises(FaultError, match="halted: db1 on fire") as refused:
            restarted.apply(fake_spec(step=step).to_json())
        assert refused.value.permanent
    assert system.apply_calls == ["r1-s1-a1"]  # nothing else reached the system
    assert [e.fault_id for e in restarted.ledger.entries()] == ["r1-s1-a1"]

    answer = restarted.release(999.0)  # an older halt's release
    assert answer == {"host": "db1", "released": False, "halted_since": HALT.since}
    answer = restarted.release(HALT.since, "ada")
    assert answer == {"host": "db1", "released": True, "halted_since": None}
    assert restarted.apply(fake_spec(step=4).to_json())["state"] == "applied"


def test_a_restarted_supervisor_reverts_what_a_halted_worker_finds_applied(
    tmp_path: Path, system: FakeSystem, flag: HaltFlag, needs_redis: str
) -> None:
    # A fault applied by a worker that never heard of the halt (another process's ledger entry).
    HostAgent("db1", None, Ledger(tmp_path), system.factory).apply(fake_spec(lease=60).to_json())
    HaltCopy(tmp_path).keep(HALT)
    sup = Supervisor(argparse.Namespace(host="db1", redis_url=needs_redis), tmp_path, flag)
    sup.janitor = Janitor(sup.ledger, system.factory)
    assert flag.get() is None
    assert sup.obey_halt() == ["r1-s1-a1"] and system.applied == set()
    flag.release(HaltRelease(HALT.since, "ada"), lift=False)
    assert sup.obey_halt() == [] and HaltCopy(tmp_path).get() is None


def test_an_agent_stays_halted_through_a_real_redis_restart(
    tmp_path: Path, system: FakeSystem
) -> None:
    port = free_port()
    redis_proc = start_redis(port, tmp_path / "redis.log")
    try:
        # As the server reaches it: the private Redis has the set-up's users.
        flag = HaltFlag.from_url(server_redis_url(f"redis://127.0.0.1:{port}/0"))
        flag.publish(HALT)
        agent = agent_in(tmp_path / "state", system, flag)
        with pytest.raises(FaultError, match="halted"):
            agent.apply(fake_spec().to_json())
        redis_proc.send_signal(signal.SIGKILL)
        redis_proc.wait(timeout=10)
        redis_proc = start_redis(port, tmp_path / "redis.log")  # back, and empty
        assert flag.get() is None
        with pytest.raises(FaultError, match="halted: db1 on fire"):
            agent_in(tmp_path / "state", system, flag).apply(fake_spec(step=2).to_json())
        flag.release(HaltRelease(HALT.since, "ada"))  # what the server re-publishes
        assert agent_in(tmp_path / "state", system, flag).apply(fake_spec(step=3).to_json())
        assert system.apply_calls == ["r1-s3-a1"]
        flag.close()
    finally:
        redis_proc.kill()
        redis_proc.wait(timeout=5)
