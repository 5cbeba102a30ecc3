from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from django.core.cache import cache

from injector.halt import HaltFlag
from tests.web.gameday_scene import GameDayScene, build_gameday_scene
from tests.web.halt_state import forget_redis
from tests.web.personas import World, build_world


@pytest.fixture(autouse=True)
def fast_passwords(settings) -> None:  # type: ignore[no-untyped-def]
    # The real hasher costs ~0.3 s per user; the tests are about access, not hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def cache_in_memory(settings) -> None:  # type: ignore[no-untyped-def]
    # Failed logins are counted in the cache (django-axes): each test gets an empty one in memory
    # instead of the Redis that the demo and other test runs share.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "drillhall-tests",
        }
    }
    # django-axes keeps the cache it found first; setting its handler again makes it look anew.
    settings.AXES_HANDLER = settings.AXES_HANDLER
    cache.clear()


@pytest.fixture
def world(db) -> World:  # type: ignore[no-untyped-def]
    return build_world()


@pytest.fixture
def gd(world: World) -> GameDayScene:
    """The team's game day, a run of it whose first drill runs, and an action item."""
    return build_gameday_scene(world)


@pytest.fixture
def private_queue(settings, needs_redis: str) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The real broker, on an orchestrator queue of the test's own, emptied afterwards: what a
    start hands over waits there instead of reaching a worker."""
    name = f"web-test-{uuid.uuid4().hex[:8]}"
    settings.DRILLHALL_ORCHESTRATOR_QUEUE = name
    yield name
    redis.Redis.from_url(settings.REDIS_URL).delete(name)


@pytest.fixture
def halt_redis(needs_redis: str, settings) -> Iterator[HaltFlag]:  # type: ignore[no-untyped-def]
    """The halt's key and marker on the tests' Redis, empty before and after."""
    settings.REDIS_URL = needs_redis
    forget_redis(needs_redis)
    flag = HaltFlag.from_url(needs_redis)
    try:
        yield flag
    finally:
        flag.close()
        forget_redis(needs_redis)
