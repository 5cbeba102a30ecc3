"""Redis's copy of the halt is put back from the database, and nothing but a release lifts it.

Against the tests' real Redis and, for the restart, a redis-server of the test's own that comes
back without its data.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from drills.web.halt import halt_all, release
from drills.web.halt_sync import HaltSync
from drills.web.models import Halt
from injector.halt import HaltFlag
from tests.conftest import free_port, server_redis_url
from tests.e2e.stack import start_redis
from tests.web.personas import World


def forget(flag: HaltFlag) -> None:
    flag.clear()
    flag.forget_release()


@pytest.fixture
def flag(needs_redis: str, settings) -> Iterator[HaltFlag]:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = needs_redis
    f = HaltFlag.from_url(needs_redis)
    forget(f)
    try:
        yield f
    finally:
        forget(f)
        f.close()


@pytest.fixture
def admin(db) -> User:  # type: ignore[no-untyped-def]
    return User.objects.create_user("adela", is_superuser=True)


def test_a_halt_in_force_is_published_again_when_redis_lost_it(
    world: World, flag: HaltFlag
) -> None:
    halt = halt_all("db1 on fire", world.member).halt
    sync = HaltSync()
    assert sync.sync() == []  # Redis agrees: nothing to do
    forget(flag)
    assert sync.sync() == ["published the halt in force again (db1 on fire)"]
    assert flag.get() == halt.state()


def test_an_older_key_is_replaced_by_the_halt_in_force(world: World, flag: HaltFlag) -> None:
    halt = halt_all("now", world.member).halt
    flag.set("an old halt", now=halt.since_ts - 60)
    HaltSync().sync()
    assert flag.get() == halt.state()


def test_the_release_is_published_again_when_redis_lost_it(
    world: World, admin: User, flag: HaltFlag
) -> None:
    halt_all("x", world.member)
    release(admin, "test")
    halt = Halt.objects.get()
    forget(flag)
    assert HaltSync().sync() == ["published the release of the halt (x) again"]
    assert flag.get() is None
    marker = flag.released()
    assert marker is not None and marker.covers(halt.state()) and marker.by == "adela"


def test_a_key_the_database_does_not_know_is_left_alone_and_said_once(
    db: None, flag: HaltFlag, caplog: pytest.LogCaptureFixture
) -> None:
    flag.set("set with redis-cli", now=1000.0)
    sync = HaltSync()
    with caplog.at_level(logging.WARNING, logger="drills.web.halt_sync"):
        assert sync.sync() == [] and sync.sync() == []
    assert flag.get() is not None  # fails closed: only an admin's release lifts it
    said = [r.getMessage() for r in caplog.records if "does not know" in r.getMessage()]
    assert len(said) == 1 and "set with redis-cli" in said[0]
    assert "(" not in said[0].split(":")[0]  # a sentence, not a repr


def test_a_foreign_key_is_not_taken_for_a_released_halt(
    world: World, admin: User, flag: HaltFlag
) -> None:
    halt_all("x", world.member)
    release(admin, "test")
    flag.client.set(flag.key, "not ours")  # since 0: earlier than any release
    HaltSync().sync()
    assert flag.get() is not None


def test_a_newer_key_than_the_halt_in_force_is_left_alone(world: World, flag: HaltFlag) -> None:
    halt = halt_all("x", world.member).halt
    flag.set("by hand, later", now=halt.since_ts + 60)
    HaltSync().sync()
    state = flag.get()
    assert state is not None and state.reason == "by hand, later"


def test_a_sync_without_redis_says_so_once_and_does_not_raise(
    world: World, flag: HaltFlag, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    halt_all("x", world.member)
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    sync = HaltSync()
    with caplog.at_level(logging.WARNING, logger="drills.web.halt_sync"):
        assert sync.sync() == [] and sync.sync() == []
    assert sum("does not answer" in r.getMessage() for r in caplog.records) == 1


def test_a_restarted_redis_gets_the_halt_back_and_then_the_release(
    world: World, admin: User, settings: Any, tmp_path: Path
) -> None:
    port = free_port()
    settings.REDIS_URL = server_redis_url(f"redis://127.0.0.1:{port}/0")  # its users: the set-up's
    redis_proc = start_redis(port, tmp_path / "redis.log")
    try:
        halt = halt_all("before the restart", world.member).halt
        flag = HaltFlag.from_url(settings.REDIS_URL)
        assert flag.get() == halt.state()
        redis_proc.send_signal(signal.SIGKILL)
        redis_proc.wait(timeout=10)
        redis_proc = start_redis(port, tmp_path / "redis.log")
        assert flag.get() is None  # the embedded Redis keeps nothing
        HaltSync().sync()
        assert flag.get() == halt.state()
        release(admin, "test")
        redis_proc.send_signal(signal.SIGKILL)
        redis_proc.wait(timeout=10)
        redis_proc = start_redis(port, tmp_path / "redis.log")
        HaltSync().sync()
        assert flag.get() is None
        marker = flag.released()
        assert marker is not None and marker.covers(halt.state())
        flag.close()
    finally:
        redis_proc.kill()
        redis_proc.wait(timeout=5)
