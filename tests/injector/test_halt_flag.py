"""Halt all, on the agent's side, against a real Redis (the tests' database): the flag and the
released marker, refusals, late broadcasts, and the janitor that obeys the flag without any
message. What the agent keeps across restarts is in test_halt_copy.py."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from injector.faults.fault import FaultError
from injector.halt import HALT_KEY, HaltFlag, HaltRelease, HaltState, HaltUnknown
from injector.host import HostAgent
from injector.janitor import Janitor
from injector.ledger import Ledger
from injector.supervisor import Supervisor
from tests.injector.fakes import FakeSystem, fake_spec


@pytest.fixture
def flag(needs_redis: str) -> Iterator[HaltFlag]:
    # A key of its own: the e2e stack and the web tests use the real one in this database.
    f = HaltFlag.from_url(needs_redis, key=f"{HALT_KEY}:test")
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


@pytest.fixture
def agent(tmp_path: Path, system: FakeSystem, flag: HaltFlag) -> HostAgent:
    return HostAgent("db1", None, Ledger(tmp_path / "ledger"), system.factory, halt_flag=flag)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def test_flag_round_trips_reason_time_and_author(flag: HaltFlag) -> None:
    assert flag.get() is None
    state = flag.set("db1 on fire", by="sam", now=1000.5)
    assert flag.get() == HaltState("db1 on fire", 1000.5, "sam") == state
    assert flag.clear() is True
    assert flag.get() is None
    assert flag.clear() is False


def test_a_release_lifts_its_halt_and_records_it_but_never_a_later_halt(flag: HaltFlag) -> None:
    flag.set("first", now=1000.0)
    assert flag.release(HaltRelease(1000.0, "ada", 1001.0)) is True
    assert flag.get() is None and flag.released() == HaltRelease(1000.0, "ada", 1001.0)
    flag.set("second", now=2000.0)
    assert flag.release(HaltRelease(1000.0, "slow", 1002.0)) is False  # late: not this one
    assert flag.get() is not None
    assert flag.released() == HaltRelease(1000.0, "ada", 1001.0)  # the marker never goes back
    assert flag.release(HaltRelease(2000.0, "ada", 2001.0), lift=False) is False
    assert flag.get() is not None and flag.released() == HaltRelease(2000.0, "ada", 2001.0)


def test_a_foreign_release_marker_releases_nothing(flag: HaltFlag) -> None:
    flag.client.set(flag.released_key, "not json")
    assert flag.released() is None


def test_a_foreign_value_under_the_key_still_means_halted(flag: HaltFlag) -> None:
    flag.client.set(flag.key, "not json")
    state = flag.get()
    assert state is not None and "not json" in state.reason


def test_an_unreachable_redis_is_unknown_not_released() -> None:
    flag = HaltFlag.from_url(f"redis://127.0.0.1:{closed_port()}/9")
    with pytest.raises(HaltUnknown):
        flag.get()


def test_apply_is_refused_permanently_while_halted(
    agent: HostAgent, system: FakeSystem, flag: HaltFlag
) -> None:
    state = flag.set("game day stopped")
    with pytest.raises(FaultError, match="halted: game day stopped") as err:
        agent.apply(fake_spec().to_json())
    assert err.value.permanent
    assert system.apply_calls == [] and agent.ledger.active() == []
    flag.clear()  # a key gone is not a release: the agent kept the halt
    with pytest.raises(FaultError, match="halted: game day stopped"):
        agent.apply(fake_spec().to_json())
    flag.release(HaltRelease(state.since, "ada"))
    assert agent.apply(fake_spec().to_json())["state"] == "applied"


def test_apply_is_refused_for_now_when_the_flag_cannot_be_read(
    tmp_path: Path, system: FakeSystem
) -> None:
    blind = HaltFlag.from_url(f"redis://127.0.0.1:{closed_port()}/9")
    agent = HostAgent("db1", None, Ledger(tmp_path), system.factory, halt_flag=blind)
    with pytest.raises(FaultError, match="cannot read the halt flag") as err:
        agent.apply(fake_spec().to_json())
    assert not err.value.permanent
    assert system.apply_calls == []


def test_halt_message_reverts_everything(agent: HostAgent, system: FakeSystem) -> None:
    agent.apply(fake_spec(step=1).to_json())
    agent.apply(fake_spec(step=2).to_json())
    result = agent.halt()
    assert sorted(result["reverted"]) == ["r1-s1-a1", "r1-s2-a1"]
    assert system.applied == set() and agent.ledger.active() == []


def test_a_late_halt_message_after_release_does_nothing(
    agent: HostAgent, system: FakeSystem, flag: HaltFlag
) -> None:
    flag.release(HaltRelease(123.0, "ada"))  # the halt of 123.0 was released
    agent.apply(fake_spec().to_json())  # a new run after the release
    result = agent.halt(since=123.0, reason="old")  # the old broadcast, delivered late
    assert result["released"] is True and result["reverted"] == []
    assert system.applied == {"r1-s1-a1"} and agent.halts.copy.get() is None
    flag.set("again", now=124.0)
    assert agent.halt(since=124.0, reason="again")["reverted"] == ["r1-s1-a1"]


def test_the_supervisor_janitor_obeys_the_flag_without_a_message(
    tmp_path: Path, system: FakeSystem, flag: HaltFlag, needs_redis: str
) -> None:
    sup = Supervisor(argparse.Namespace(host="db1", redis_url=needs_redis), tmp_path, flag)
    sup.janitor = Janitor(sup.ledger, system.factory)
    worker = HostAgent("db1", None, sup.ledger, system.factory, halt_flag=flag)
    worker.apply(fake_spec(lease=60).to_json())
    assert sup.obey_halt() == []  # not halted: the lease is what counts
    assert system.applied == {"r1-s1-a1"}
    state = flag.set("stop")
    assert sup.obey_halt() == ["r1-s1-a1"]
    assert system.applied == set()
    # The supervisor kept the halt where its worker looks: the worker refuses without Redis.
    flag.clear()
    with pytest.raises(FaultError, match="halted: stop"):
        HostAgent("db1", None, sup.ledger, system.factory).apply(fake_spec(step=2).to_json())
    flag.release(HaltRelease(state.since, "ada"))
    assert sup.obey_halt() == []
    worker.apply(fake_spec(step=3, lease=60).to_json())
    assert sup.obey_halt() == [] and system.applied == {"r1-s3-a1"}


def test_the_supervisor_janitor_does_nothing_when_redis_is_gone(
    tmp_path: Path, system: FakeSystem
) -> None:
    args = argparse.Namespace(host="db1", redis_url=f"redis://127.0.0.1:{closed_port()}/9")
    sup = Supervisor(args, tmp_path)  # nothing kept in tmp_path either
    sup.janitor = Janitor(sup.ledger, system.factory)
    HostAgent("db1", None, sup.ledger, system.factory).apply(fake_spec(lease=60).to_json())
    assert sup.obey_halt() == []
    assert system.applied == {"r1-s1-a1"}


def test_redis_errors_reach_the_caller_when_setting(needs_redis: str) -> None:
    flag = HaltFlag.from_url(f"redis://127.0.0.1:{closed_port()}/9")
    with pytest.raises(redis.RedisError):
        flag.set("x")
