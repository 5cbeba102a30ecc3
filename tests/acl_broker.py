"""A throwaway Redis with Drillhall's users, for tests of what each user may do.

A real ``redis-server`` on a free loopback port, given its users by the code the set-up runs
(``injector.redis_acl.ensure_users``) with passwords in a credentials directory of the test's
own: nothing depends on how this machine's Redis was set up, and nothing touches it.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from injector.credentials import admin_redis_url, with_credentials
from injector.redis_acl import ensure_users
from tests.conftest import free_port, require


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


@contextlib.contextmanager
def acl_broker(
    directory: Path, hosts: list[str] | None, args: tuple[str, ...] = ()
) -> Iterator[AclBroker]:
    """A redis-server with the users admin, drillhall and one per host of ``hosts`` (None: no
    users at all, as a Redis is before the set-up gives it some)."""
    require(shutil.which("redis-server") is not None, "needs redis-server (make setup)")
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "redis.log"
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory), *args, "--daemonize", "no"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
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
        broker = AclBroker(port, directory / "credentials", log)
        if hosts is not None:
            ensure_users(fresh, broker.credentials, hosts)
        fresh.close()
        yield broker
    finally:
        proc.kill()
        proc.wait(timeout=10)
