"""What a fault's programs inherit: an explicit, minimal environment, none of the agent's.

An agent runs with its broker URL, keys and whatever its unit file holds; nft, ip, tc, stress-ng
and the fault's own children (proxies, the stub resolver, the FUSE layer) need none of it. Read
from the kernel (/proc/<pid>/environ) of a child that is really running, and from what a
command really got.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

import injector
from injector import children
from injector.commands import CHILD_ENVIRONMENT_KEYS, child_environment, run_command

SECRETS = {
    "REDIS_URL": "redis://agent:s3cret@10.77.0.1:6379/0",
    "SECRET_KEY": "django-insecure-do-not-leak",
    "DATABASE_URL": "postgresql://drill:pw@db/drill",
    "PGPASSWORD": "pw",
    "DRILLHALL_AGENT_KEY": "hmac-key",
    "LD_PRELOAD": "/tmp/evil.so",
    "PYTHONSTARTUP": "/tmp/evil.py",
}


@pytest.fixture(autouse=True)
def agent_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def test_a_faults_child_process_gets_only_the_minimal_environment(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import injector, time; time.sleep(30)"]
    record = children.spawn(tmp_path, "probe-env", argv)
    try:
        deadline = time.monotonic() + 5
        while not environ_of(record.pid) and time.monotonic() < deadline:
            time.sleep(0.02)  # environ is empty until the exec is done
        seen = environ_of(record.pid)
        assert set(seen) <= set(CHILD_ENVIRONMENT_KEYS), seen
        assert not set(seen.values()) & set(SECRETS.values())
        time.sleep(0.3)
        assert children.alive(tmp_path, "probe-env"), (tmp_path / "probe-env.log").read_text()
    finally:
        children.stop(tmp_path, "probe-env")


def test_a_command_gets_only_the_minimal_environment() -> None:
    out = run_command(["env", "-0"])
    seen = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
    assert set(seen) <= set(CHILD_ENVIRONMENT_KEYS), seen
    assert seen["PATH"] == child_environment()["PATH"]


def test_the_minimal_environment_still_finds_the_injector_package() -> None:
    # The children run `python -m injector.<module>`: this checkout's package, not another.
    env = child_environment()
    assert env["PYTHONPATH"] == str(Path(injector.__file__).resolve().parents[1])
    out = run_command([sys.executable, "-c", "import injector; print(injector.__file__)"])
    assert Path(out.strip()).resolve() == Path(injector.__file__).resolve()
