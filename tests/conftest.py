"""Shared test helpers.

On CI (CI=true, or DRILLHALL_REQUIRE_ALL=1 as .ci/run sets) a missing capability fails the test
instead of skipping it, so a green run cannot hide a machine that lost root, eBPF or
the browser.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

# CI sets CI=true and .ci/run sets DRILLHALL_REQUIRE_ALL=1: either one makes skips impossible.
REQUIRE_ALL = any(
    os.environ.get(name, "").lower() in {"1", "true", "yes"}
    for name in ("DRILLHALL_REQUIRE_ALL", "CI")
)


def require(condition: bool, reason: str) -> None:
    """Skip (locally) or fail (CI) when a capability the test needs is absent."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"required capability missing on CI: {reason}", pytrace=False)
    pytest.skip(reason)


def have_root() -> bool:
    return os.geteuid() == 0


def redis_up(url: str | None = None) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(server_redis_url(url), socket_timeout=1)
        return bool(client.ping())
    except Exception:
        return False


def test_redis_url() -> str:
    """The tests' Redis database (so a running demo is not disturbed), as the environment of
    the processes a test starts names it: no user, no password (each process adds its own)."""
    return os.environ.get("DRILLHALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


def server_redis_url(url: str | None = None) -> str:
    """The tests' Redis as the server's processes reach it: as the user ``drillhall``."""
    from injector.credentials import server_redis_url as with_server_user

    return with_server_user(url or test_redis_url())


@contextlib.contextmanager
def enrolled(host: str, url: str | None = None) -> Iterator[None]:
    """``host``'s agent has its Redis user while this lasts, as ``drillhall enrol`` gives it
    (on a Redis without users there is nothing to give: the agent reaches it as the default
    user). A user made here goes afterwards, with its password; one that was there stays."""
    import redis

    from injector.credentials import (
        ADMIN_USER,
        admin_redis_url,
        agent_user,
        credentials_dir,
        password_file,
    )
    from injector.redis_acl import ensure_agent

    directory = credentials_dir()
    if not password_file(directory, ADMIN_USER).is_file():
        yield
        return
    client = redis.Redis.from_url(admin_redis_url(url or test_redis_url(), directory))
    made = False
    try:
        made = ensure_agent(client, directory, host)
        yield
    finally:
        if made:
            client.execute_command("ACL", "DELUSER", agent_user(host))
            shutil.rmtree(password_file(directory, agent_user(host)).parent, ignore_errors=True)
        client.close()


@pytest.fixture
def needs_root() -> None:
    require(have_root(), "needs root (network namespaces, nftables)")
    require(shutil.which("nft") is not None, "needs nftables (apt-get install nftables)")
    require(shutil.which("ip") is not None, "needs iproute2")


@pytest.fixture
def needs_redis() -> str:
    """The tests' Redis as the server reaches it (the user ``drillhall``, when it has users)."""
    url = test_redis_url()
    require(redis_up(url), f"needs a Redis server at {url} (make setup starts one)")
    return server_redis_url(url)


@pytest.fixture
def service() -> Iterator[Any]:
    """A loopback HTTP service that answers 503 while ``broken`` (tests.engine.fakes)."""
    from tests.engine.fakes import Service

    with Service() as s:
        yield s


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(
    argv: list[str], timeout: float = 10.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=check)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run end-to-end tests last, and those sharing the session's lab stack after the others.

    The lab has fixed names: tests that build and remove it themselves must not run while
    the shared stack holds it, and the stack is only torn down at the end of the session.
    """

    def rank(item: pytest.Item) -> int:
        if "/tests/e2e/" not in str(item.path):
            return 0
        if item.get_closest_marker("changes_lab"):
            return 3
        return 2 if "stack" in getattr(item, "fixturenames", ()) else 1

    items.sort(key=rank)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """On CI a skip from anywhere (a marker, a plugin, a fixture) is a failure: root, eBPF,
    the browser and Redis are expected there, so a skipped test hides breakage."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped on CI, which must run every test: {report.longrepr}"
