"""The lab's Redis Sentinels, asked from the root namespace: which master they name, and a
fail-back to db1, the master the lab starts with and that its failover tests expect."""

from __future__ import annotations

import time
from typing import Any

import redis

from tests.e2e.stack import checkout_status

SENTINELS = [("10.77.0.2", 26379), ("10.77.0.3", 26379), ("10.77.0.4", 26379)]
DB1 = ("10.77.0.3", 6379)
DB2 = ("10.77.0.4", 6379)
ASK_AGAIN_S = 5.0  # a failover that was accepted takes a few seconds to show


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
    wait until the lab is as it started: db1 master, db2 its replica, the shop on db1.

    A Sentinel refuses while db1 is not yet a replica it would promote (NOGOODSLAVE: db1 came
    back from a cut and is still resyncing) or while a failover is in progress (INPROG): ask
    again until it takes. Once the Sentinels name db1, db2 still runs as a master, taking the
    writes of clients that were on it (the shop), until a Sentinel turns it into a replica
    (seen 20 s after the switch): a drill started before then saw the shop write to db2 right
    through a cut of db1."""
    if master_address() == DB1 and is_replica_of(DB2, DB1):
        return
    deadline = time.monotonic() + timeout
    refusals: list[str] = []
    asked_at = 0.0
    while master_address() != DB1:
        now = time.monotonic()
        if now > deadline:
            raise AssertionError(
                f"db1 was not master again within {timeout:g} s; the Sentinels said: "
                f"{'; '.join(refusals[-3:]) or 'nothing'}; db1: {replication(DB1)}"
            )
        if now - asked_at >= ASK_AGAIN_S:
            asked_at = now
            refusal = ask_failover()
            if refusal:
                refusals.append(refusal)
        time.sleep(0.5)
    while not is_replica_of(DB2, DB1):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"db2 was not db1's replica within {timeout:g} s: {replication(DB2)}"
            )
        time.sleep(0.5)
    # The shop moves to the master the Sentinels name when a write fails (READONLY on db2).
    while checkout_status() != 200:
        if time.monotonic() > deadline:
            raise AssertionError(f"the shop did not answer 200 again within {timeout:g} s")
        time.sleep(0.5)


def is_replica_of(replica: tuple[str, int], master: tuple[str, int]) -> bool:
    info = replication_info(replica)
    return (
        info is not None
        and info.get("role") == "slave"
        and (info.get("master_host"), info.get("master_port")) == master
        and info.get("master_link_status") == "up"
    )


def replication_info(address: tuple[str, int]) -> dict[str, Any] | None:
    """INFO replication of the Redis at ``address``, or None when it does not answer."""
    try:
        return dict(redis.Redis(*address, socket_timeout=1).info("replication"))
    except redis.RedisError:
        return None


def ask_failover() -> str:
    """Ask one Sentinel for a failover of shop; "" when one accepted, else the last refusal."""
    refusal = ""
    for host, port in SENTINELS:
        try:
            redis.Redis(host, port, socket_timeout=2).execute_command(
                "SENTINEL", "FAILOVER", "shop"
            )
            return ""
        except redis.RedisError as exc:
            refusal = f"{host}: {exc}"
    return refusal


def replication(address: tuple[str, int]) -> str:
    """The role and link state of the Redis at ``address``, for a failure message."""
    info = replication_info(address)
    if info is None:
        return "not answering"
    keys = ("role", "master_host", "master_link_status", "master_sync_in_progress")
    return ", ".join(f"{k} {info[k]}" for k in keys if k in info)
