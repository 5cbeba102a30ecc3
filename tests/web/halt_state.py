"""The halt's copy in Redis, for tests that halt through the web (test_halt, the role matrix)."""

from __future__ import annotations

from injector.halt import HaltFlag


def forget_redis(url: str) -> None:
    """What a Redis restarted without its data looks like to the halt (the database's halt
    goes with each test's transaction; Redis keeps its copy otherwise)."""
    flag = HaltFlag.from_url(url)
    try:
        flag.clear()
        flag.forget_release()
    finally:
        flag.close()
