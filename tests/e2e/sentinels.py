"""The lab's Redis Sentinels, asked from the root namespace: which master they name, and a
fail-back to db1, the master the lab starts with and that its failover tests expect."""

from __future__ import annotations

import time

import redis

SENTINELS = [("10.77.0.2", 26379), ("10.77.0.3", 26379), ("10.77.0.4", 26379)]
DB1 = ("10.77.0.3", 6379)


def master_address() -> tuple[str, int]:
    """The master the reachable Sentinels name, asked from the root namespace."""
    for host, port in SENTINELS:
        try:
            ip, master_port = redis.Redis(host, port, socket_timeout=1).execute_command(
                "SENTINEL", "get-master-addr-by-name", "shop"
            )
        except redis.RedisError:
            continue
        return ip.decode(), int(master_port)
    raise AssertionError("no Sentinel answered")


def fail_back_to_db1(timeout: float = 60) -> None:
    """After a failover to db2, ask the Sentinels to fail back (db1 is the only replica) and
    wait for it."""
    if master_address() == DB1:
        return
    for host, port in SENTINELS:
        try:
            redis.Redis(host, port, socket_timeout=2).execute_command(
                "SENTINEL", "FAILOVER", "shop"
            )
            break
        except redis.RedisError:
            continue
    deadline = time.monotonic() + timeout
    while master_address() != DB1:
        if time.monotonic() > deadline:
            raise AssertionError(f"db1 was not master again within {timeout:g} s")
        time.sleep(0.5)
