"""The set-up's Redis step: the broker's ACL users, made idempotently, said in sentences.

    python -m drills.cli.redis_users [--url redis://127.0.0.1:6379/0]

(scripts/setup.sh runs it once Redis answers.) The passwords of ``admin`` and ``drillhall`` are
made in the credentials directory if they are not there; then the users of
``injector.redis_acl`` are set on the running Redis, with every host enrolled in that
directory, and the ``default`` user is switched off. A Redis that already has them (set up
before) is reached as ``admin`` and set again; one that has none yet (started by an earlier
checkout, or just now) is reached as its password-less default user, which this step ends.

It also turns on the append-only file of a Redis started without one (queued runs, the halt
flag and the runs' leases survive a restart). No Django: it runs before anything else is set.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from injector.credentials import (
    ADMIN_USER,
    admin_redis_url,
    credentials_dir,
    ensure_password,
    password_file,
    redacted,
    without_credentials,
)
from injector.redis_acl import (
    SERVER_USER,
    config_value,
    enrolled_hosts,
    ensure_users,
    save_acl,
)

DEFAULT_URL = "redis://127.0.0.1:6379/0"
TIMEOUT_S = 5.0
# A Redis that was just started replays its append-only file before it serves commands
# (it answers LOADING meanwhile); a machine where Drillhall ran for a while has a big one.
LOADING_WAIT_S = 120.0


T = TypeVar("T")


class SetupFailed(Exception):
    """The step cannot go on; the message says why and what to do."""


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=TIMEOUT_S,
        socket_connect_timeout=TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
    )


def connect_as_admin(url: str, directory: Path) -> tuple[redis.Redis, bool]:
    """A client allowed to run ACL, and whether Redis had users already (False: it was
    reached through its password-less default user)."""
    plain = without_credentials(url)
    admin = _client(admin_redis_url(plain, directory))
    try:
        admin.ping()
        return admin, True
    except redis.AuthenticationError:
        admin.close()
    default = _client(plain)
    try:
        default.ping()
        default.execute_command("ACL", "WHOAMI")
    except redis.BusyLoadingError:
        default.close()
        raise
    except redis.RedisError:
        default.close()
        raise SetupFailed(
            f"Redis at {redacted(plain)} has users already, and {ADMIN_USER}'s password in "
            f"{password_file(directory, ADMIN_USER)} is not theirs: it was set up from another "
            "credentials directory. Point DRILLHALL_CREDENTIALS_DIR at that one, or stop this "
            "Redis and run the set-up again to start a fresh one"
        ) from None
    return default, False


def once_loaded(
    connect: Callable[[], T],
    wait_s: float = LOADING_WAIT_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, float]:
    """``connect()``, tried again while Redis is still loading its data, up to ``wait_s``;
    with how long it waited."""
    started = clock()
    while True:
        try:
            return connect(), clock() - started
        except redis.BusyLoadingError:
            if clock() - started >= wait_s:
                raise
            sleep(0.2)


def set_up(url: str, directory: Path) -> list[str]:
    """Everything this step does; returns its sentences."""
    said = []
    for user in (ADMIN_USER, SERVER_USER):
        if ensure_password(password_file(directory, user)):
            said.append(f"made a password for the Redis user {user} (in {directory}, 0600)")
    try:
        (client, had_users), waited = once_loaded(lambda: connect_as_admin(url, directory))
    except redis.BusyLoadingError:
        raise SetupFailed(
            f"Redis at {redacted(url)} was still loading its data after {LOADING_WAIT_S:.0f} s; "
            "run the set-up again once it has (its log says when)"
        ) from None
    except redis.ConnectionError as exc:
        raise SetupFailed(f"Redis at {redacted(url)} does not answer: {exc}") from None
    if waited >= 0.1:
        said.append(f"waited {waited:.1f} s for Redis to load its data")
    try:
        hosts = enrolled_hosts(directory)
        said.append(
            "Redis had its users already; set them again"
            if had_users
            else "Redis had no users yet (anyone could reach it); gave it its users"
        )
        said += ensure_users(client, directory, hosts)
    finally:
        client.close()
    # As admin from here on: the default user, if that was the way in, can do nothing now.
    admin = _client(admin_redis_url(url, directory))
    try:
        said.append(save_acl(admin))
        if config_value(admin, "appendonly") == "no":
            # Started without persistence (an older set-up): a restart would lose queued runs.
            admin.execute_command("CONFIG", "SET", "appendonly", "yes")
            said.append("turned on its append-only file (persistence)")
    finally:
        admin.close()
    return said


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drills.cli.redis_users", description=__doc__)
    parser.add_argument("--url", default=os.environ.get("REDIS_URL") or DEFAULT_URL)
    args = parser.parse_args(argv)
    directory = credentials_dir()
    try:
        said = set_up(args.url, directory)
    except SetupFailed as exc:
        print(f"Redis users: FAILED: {exc}", file=sys.stderr)
        return 1
    for sentence in said:
        print(f"Redis users: {sentence}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
