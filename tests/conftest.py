"""Shared test helpers.

On CI (DRILLHALL_REQUIRE_ALL=1, set by .ci/run) a missing capability fails the test
instead of skipping it, so a green run cannot hide a machine that lost root, eBPF or
the browser.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

REQUIRE_ALL = os.environ.get("DRILLHALL_REQUIRE_ALL", "") in {"1", "true", "yes"}


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
        return bool(redis.Redis.from_url(url or test_redis_url(), socket_timeout=1).ping())
    except Exception:
        return False


def test_redis_url() -> str:
    # Tests use their own Redis database so a running demo is not disturbed.
    return os.environ.get("DRILLHALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


@pytest.fixture
def needs_root() -> None:
    require(have_root(), "needs root (network namespaces, nftables)")
    require(shutil.which("nft") is not None, "needs nftables (apt-get install nftables)")
    require(shutil.which("ip") is not None, "needs iproute2")


@pytest.fixture
def needs_redis() -> str:
    url = test_redis_url()
    require(redis_up(url), f"needs a Redis server at {url} (make setup starts one)")
    return url


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
        return 2 if "stack" in getattr(item, "fixturenames", ()) else 1

    items.sort(key=rank)
