from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from channels.layers import get_channel_layer

from tests.web.personas import World, build_world


@pytest.fixture(autouse=True)
def fast_passwords(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def redis_layer(settings, needs_redis: str) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """The real Redis channel layer as the settings configure it, on the test database, with a
    prefix of its own; live run events on the same Redis (their channels name the run)."""
    settings.REDIS_URL = needs_redis
    configured = settings.CHANNEL_LAYERS["default"]
    (host,) = configured["CONFIG"]["hosts"]
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": configured["BACKEND"],
            "CONFIG": {
                "hosts": [{**host, "address": needs_redis}],
                "prefix": f"drillhall-test-{uuid.uuid4().hex[:8]}",
            },
        }
    }
    yield get_channel_layer()


@pytest.fixture
def world(transactional_db) -> World:  # type: ignore[no-untyped-def]
    return build_world()
