"""A throwaway Redis with Drillhall's users, for tests of what each user may do.

A real ``redis-server`` on a free loopback port, given its users by the code the set-up runs
(``injector.redis_acl.ensure_users``) with passwords in a credentials directory of the test's
own: nothing depends on how this machine's Redis was set up, and nothing touches it.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import redis

from ebpf.netns import enter_netns
from injector.credentials import admin_redis_url, with_credentials
from injector.redis_acl import ensure_users
from tests.conftest import free_port, require

T = TypeVar("T")


@dataclass
class AclBroker:
    port: int
    credentials: Path
    log: Path

    @property
    def url(self) -> str:
        """The broker's URL with no user: what processes are given (they add their own)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def url_of(self, user: str) -> str:
        """The URL as ``user`` reaches the broker (its password from the test's directory)."""
        return with_credentials(self.url, user, self.credentials)

    def client(self, user: str) -> redis.Redis:
        return redis.Redis.from_url(self.url_of(user), socket_timeout=5)

    def admin(self) -> redis.Redis:
        return redis.Redis.from_url(admin_redis_url(self.url, self.credentials), socket_timeout=5)


def in_netns(netns: str | None, work: Callable[[], T]) -> T:
    """``work()``, from inside network namespace ``netns`` (a thread of its own enters it)."""
    if netns is None:
        return work()
    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            enter_netns(netns)
            done.append(work())
        except BaseException as exc:  # handed to the caller
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=30)
    if failed:
        raise failed[0]
    assert done, f"no answer from inside {netns} in 30 s"
    return done[0]


@contextlib.contextmanager
def acl_broker(
    directory: Path,
    hosts: list[str] | None,
    args: tuple[str, ...] = (),
    netns: str | None = None,
) -> Iterator[AclBroker]:
    """A redis-server with the users admin, drillhall and one per host of ``hosts`` (None: no
    users at all, as a Redis is before the set-up gives it some); inside ``netns`` if given
    (then reach it from there: ``in_netns``)."""
    require(shutil.which("redis-server") is not None, "needs redis-server (make setup)")
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "redis.log"
    enter = ["ip", "netns", "exec", netns] if netns else []
    proc = subprocess.Popen(
        [*enter, "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory), *args, "--daemonize", "no"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    broker = AclBroker(port, directory / "credentials", log)

    def start() -> None:
        fresh = redis.Redis(port=port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                fresh.ping()
                break
            except redis.AuthenticationError:
                break  # up, with users already (from its ACL file)
            except redis.ConnectionError:
                assert time.monotonic() < deadline, f"redis-server did not start: {log}"
                time.sleep(0.05)
        if hosts is not None:
            ensure_users(fresh, broker.credentials, hosts)
        fresh.close()

    try:
        in_netns(netns, start)
        yield broker
    finally:
        proc.kill()
        proc.wait(timeout=10)
