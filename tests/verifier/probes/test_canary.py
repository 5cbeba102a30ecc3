from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from tests.verifier.probes.servers import free_port, redis_server
from verifier.probes.canary import Ack, RedisCanary, split_address

PREFIX = "drillhall:test:canary:"


@pytest.fixture
def port() -> Iterator[int]:
    with redis_server() as port:
        yield port


def writes(canary: RedisCanary, count: int) -> None:
    for _ in range(count):
        assert canary.sample().ok


def test_every_acknowledged_write_is_remembered_in_order(port: int) -> None:
    canary = RedisCanary("orders", f"127.0.0.1:{port}", PREFIX)
    before = time.time()
    writes(canary, 5)
    acked = canary.acknowledged()
    assert [a.seq for a in acked] == [1, 2, 3, 4, 5]
    assert all(before <= a.t <= time.time() for a in acked)
    assert [a.t for a in acked] == sorted(a.t for a in acked)
    store = redis.Redis(port=port, decode_responses=True)
    assert store.exists(*(f"{PREFIX}{n}" for n in range(1, 6))) == 5
    assert 0 < store.ttl(f"{PREFIX}1") <= 86400  # canary keys do not pile up forever


def test_verify_reports_exactly_the_writes_lost_behind_the_probes_back(port: int) -> None:
    canary = RedisCanary("orders", f"127.0.0.1:{port}", PREFIX)
    writes(canary, 30)
    store = redis.Redis(port=port, decode_responses=True)
    assert canary.verify() == []
    store.delete(f"{PREFIX}4", f"{PREFIX}17", f"{PREFIX}30")
    # A key rewritten by someone else (or left by an earlier run) is not our write either.
    store.set(f"{PREFIX}9", "stale")
    acked = {a.seq: a for a in canary.acknowledged()}
    assert canary.verify() == [acked[4], acked[9], acked[17], acked[30]]


def test_verify_counts_only_writes_after_the_given_time(port: int) -> None:
    canary = RedisCanary("orders", f"127.0.0.1:{port}", PREFIX)
    writes(canary, 10)
    acked = canary.acknowledged()
    redis.Redis(port=port).delete(f"{PREFIX}2", f"{PREFIX}8")
    assert canary.verify(after_seconds=acked[4].t) == [acked[7]]


def test_the_next_sample_notices_a_previous_write_that_vanished(port: int) -> None:
    canary = RedisCanary("orders", f"127.0.0.1:{port}", PREFIX)
    writes(canary, 3)
    redis.Redis(port=port).delete(f"{PREFIX}3")
    writes(canary, 1)
    assert canary.read_misses == [3]


def test_a_write_the_store_did_not_acknowledge_is_not_counted() -> None:
    with redis_server() as port:
        canary = RedisCanary("orders", f"127.0.0.1:{port}", PREFIX, timeout=0.5)
        writes(canary, 3)
    # The server is gone: the writes fail and are not remembered, but the sequence goes on.
    sample = canary.sample()
    assert not sample.ok and sample.error is not None and "ConnectionError" in sample.error
    assert [a.seq for a in canary.acknowledged()] == [1, 2, 3]
    with pytest.raises(redis.ConnectionError):
        canary.verify()  # "cannot tell" must never read as "nothing lost"


def test_a_read_only_replica_refuses_the_write_and_it_is_not_acknowledged(port: int) -> None:
    # A demoted primary answers READONLY: exactly the failover case the canary exists for.
    store = redis.Redis(port=port)
    store.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))
    try:
        canary = RedisCanary("orders", f"127.0.0.1:{port}", PREFIX)
        sample = canary.sample()
    finally:
        store.execute_command("REPLICAOF", "NO", "ONE")
    assert not sample.ok and sample.error is not None and "ReadOnly" in sample.error
    assert canary.acknowledged() == []


def test_verify_works_after_the_probe_closed_its_connections(port: int) -> None:
    canary = RedisCanary("orders", f"127.0.0.1:{port}", PREFIX)
    writes(canary, 4)
    canary.close()  # the engine closes probes when the run stops sampling
    redis.Redis(port=port).delete(f"{PREFIX}2")
    assert canary.verify() == [Ack(2, canary.acknowledged()[1].t)]


def test_addresses_split_into_host_and_port() -> None:
    assert split_address("10.77.0.3:6379") == ("10.77.0.3", 6379)
    assert split_address("[fd00::3]:6380") == ("fd00::3", 6380)
    with pytest.raises(ValueError):
        split_address("db1")


@pytest.mark.parametrize("prefix", ["agent.db", "drillhall:halt", "", "a:b", "x:" * 60, "a b:"])
def test_a_prefix_that_could_name_another_programs_key_is_refused(prefix: str) -> None:
    # "agent.db" + 1 is the Celery queue of host db1 in Drillhall's own broker: a SET there
    # would replace the agent's pending tasks. Refused before any connection is made.
    with pytest.raises(ValueError, match="not a canary key prefix"):
        RedisCanary("orders", "127.0.0.1:6379", prefix)
