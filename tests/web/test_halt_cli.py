"""`drillhall halt` and `drillhall release` act as a named account: anyone may halt, only an
admin releases, and nobody acts without saying who they are."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from drills.cli.halt_command import EXIT_OK, EXIT_REFUSED, add_actor, halt, release
from drills.web.models import Halt
from injector.halt import HaltFlag


@pytest.fixture
def flag(needs_redis: str, settings: Any) -> Iterator[HaltFlag]:
    settings.REDIS_URL = needs_redis
    f = HaltFlag.from_url(needs_redis)
    f.clear()
    f.forget_release()
    try:
        yield f
    finally:
        f.clear()
        f.forget_release()
        f.close()


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reason", default="from the shell")
    add_actor(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def people(db: None) -> None:
    User.objects.create_user("max")
    User.objects.create_user("adela", is_superuser=True)
    User.objects.create_user("gone", is_active=False)


def test_any_account_halts_and_is_recorded(
    people: None, flag: HaltFlag, capsys: pytest.CaptureFixture[str]
) -> None:
    assert halt(args("--as", "max", "--reason", "db1 on fire"), print) == EXIT_OK
    halt_row = Halt.objects.get()
    assert halt_row.by_name == "max" and halt_row.reason == "db1 on fire"
    assert "halted: db1 on fire (by max)" in capsys.readouterr().out


def test_nobody_acts_without_saying_who(
    people: None, flag: HaltFlag, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.delenv("DRILLHALL_USER", raising=False)
    assert halt(args(), print) == EXIT_REFUSED
    assert "--as USERNAME" in capsys.readouterr().err
    for name in ("nobody", "gone"):
        assert halt(args("--as", name), print) == EXIT_REFUSED
        assert f"no active Drillhall account named {name}" in capsys.readouterr().err
    assert not Halt.objects.exists()


def test_the_account_may_come_from_the_environment(
    people: None, flag: HaltFlag, monkeypatch: Any
) -> None:
    monkeypatch.setenv("DRILLHALL_USER", "max")
    assert halt(args(), print) == EXIT_OK
    assert Halt.objects.get().by_name == "max"


def test_only_an_admin_releases(
    people: None, flag: HaltFlag, capsys: pytest.CaptureFixture[str]
) -> None:
    halt(args("--as", "max"), print)
    capsys.readouterr()
    assert release(args("--as", "max"), print) == EXIT_REFUSED
    assert "max is not an admin: only an admin may release a halt" in capsys.readouterr().err
    assert Halt.objects.in_force().exists() and flag.get() is not None
    assert release(args("--as", "adela"), print) == EXIT_OK
    assert "released by adela" in capsys.readouterr().out
    assert not Halt.objects.in_force().exists() and flag.get() is None
    assert release(args("--as", "adela"), print) == EXIT_OK
    assert "nothing was halted" in capsys.readouterr().out
