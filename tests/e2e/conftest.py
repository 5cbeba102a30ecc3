from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import free_port, have_root, redis_up, require, test_redis_url
from tests.e2e.stack import Stack, manage, stack_env

PASSWORD = "drill-e2e-Pass-1"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require(have_root(), "end-to-end tests need root (the lab uses network namespaces)")
    require(redis_up(), f"end-to-end tests need Redis at {test_redis_url()}")
    tmp = tmp_path_factory.mktemp("stack")
    env = stack_env(tmp, test_redis_url())
    s = Stack(env=env, tmp=tmp, port=free_port())
    try:
        s.up()
        manage(
            env,
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; U = get_user_model(); "
            f"U.objects.filter(username='owner').exists() or U.objects.create_superuser("
            f"'owner', 'owner@example.test', {PASSWORD!r})",
        )
        manage(env, "loadexamples", "--owner", "owner")
        yield s
    finally:
        s.down()


@pytest.fixture(scope="session")
def e2e_password() -> str:
    return PASSWORD
