"""What each Redis user of a broker may do, asked of a real Redis that has them.

The users are given by the set-up's own code (injector.redis_acl.ensure_users) to a throwaway
redis-server (tests/acl_broker.py); every refusal below is Redis's own NOPERM, NOAUTH or
WRONGPASS. The agent ``h1`` is tried against ``h2``'s keys, the orchestrator's queue and the
halt flag; the server's user against Redis's own configuration.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from injector.credentials import ADMIN_USER, SERVER_USER, agent_user, password_file
from injector.heartbeat import beat, last_beats
from injector.protocol import (
    HALT_KEY,
    REGISTER_QUEUE,
    agent_heartbeat_key,
    agent_task_id,
    evidence_lease_key,
    evidence_samples_key,
    new_run_key,
)
from injector.redis_acl import (
    RESULT_KEY_PREFIX,
    agent_transport_options,
    check_users,
    ensure_users,
)
from tests.acl_broker import AclBroker, acl_broker

RUN = new_run_key()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclBroker]:
    with acl_broker(tmp_path_factory.mktemp("acl"), ["h1", "h2"]) as b:
        yield b


@pytest.fixture
def h1(broker: AclBroker) -> Iterator[redis.Redis]:
    client = broker.client(agent_user("h1"))
    yield client
    client.close()


@pytest.fixture
def server(broker: AclBroker) -> Iterator[redis.Redis]:
    client = broker.client(SERVER_USER)
    yield client
    client.close()


def refused(call: Callable[[], Any]) -> str:
    """Redis's refusal of ``call`` (it must be one)."""
    with pytest.raises(redis.ResponseError) as err:
        call()
    return str(err.value)


def noperm(call: Callable[[], Any]) -> None:
    message = refused(call)
    assert "no permissions" in message, message


def test_nobody_gets_in_without_a_user_and_its_password(broker: AclBroker) -> None:
    with pytest.raises(redis.AuthenticationError, match="authenticated|Authentication required"):
        redis.Redis(port=broker.port).ping()
    wrong = redis.Redis(port=broker.port, username=SERVER_USER, password="not-the-password")
    with pytest.raises(redis.AuthenticationError, match="invalid username-password pair"):
        wrong.ping()
    anyone = redis.Redis(port=broker.port, username=agent_user("h3"), password="guess")
    with pytest.raises(redis.AuthenticationError, match="invalid username-password pair"):
        anyone.ping()


def test_an_agent_takes_from_and_puts_back_on_its_own_queue_only(h1: redis.Redis) -> None:
    h1.lpush("agent.h1", "m")
    assert h1.brpop(["agent.h1"], timeout=1) == (b"agent.h1", b"m")
    for queue in ("agent.h2", "orchestrator", "agent.h1x", "celery"):
        noperm(lambda q=queue: h1.lpush(q, "forged"))
        noperm(lambda q=queue: h1.rpop(q))
        noperm(lambda q=queue: h1.brpop([q], timeout=1))
        noperm(lambda q=queue: h1.llen(q))


def test_an_agent_pushes_registrations_and_cannot_read_them(h1: redis.Redis) -> None:
    assert h1.lpush(REGISTER_QUEUE, "registration") >= 1
    noperm(lambda: h1.lrange(REGISTER_QUEUE, 0, -1))
    noperm(lambda: h1.rpop(REGISTER_QUEUE))
    noperm(lambda: h1.delete(REGISTER_QUEUE))


def test_an_agent_reads_the_halt_flag_and_can_neither_set_nor_lift_it(
    h1: redis.Redis, server: redis.Redis
) -> None:
    server.set(HALT_KEY, json.dumps({"reason": "test", "since": 1.0, "by": "me"}))
    try:
        assert h1.get(HALT_KEY) is not None
        noperm(lambda: h1.delete(HALT_KEY))
        noperm(lambda: h1.set(HALT_KEY, "released"))
        noperm(lambda: h1.expire(HALT_KEY, 1))
        assert server.get(HALT_KEY) is not None
    finally:
        server.delete(HALT_KEY)


def test_an_agent_writes_replies_of_its_own_tasks_only(h1: redis.Redis) -> None:
    own = f"{RESULT_KEY_PREFIX}{agent_task_id('h1')}"
    h1.set(own, "{}", ex=60)
    assert h1.publish(own, "{}") == 0
    for other in (
        agent_task_id("h2"),
        agent_task_id("h1x"),
        "d6d8b2c6-4c1b-4bb4-9f5e-1d2f0e3c4b5a",
    ):
        noperm(lambda o=other: h1.set(f"{RESULT_KEY_PREFIX}{o}", "{}"))
        noperm(lambda o=other: h1.publish(f"{RESULT_KEY_PREFIX}{o}", "{}"))
    pubsub = h1.pubsub()
    with pytest.raises(redis.ResponseError, match="no permissions"):
        pubsub.subscribe(f"{RESULT_KEY_PREFIX}{agent_task_id('h2')}")
        pubsub.get_message(timeout=1)
    pubsub.close()


def test_an_agent_writes_its_own_hosts_evidence_only(h1: redis.Redis, server: redis.Redis) -> None:
    server.set(evidence_lease_key(RUN), "1", px=5000)
    assert h1.exists(evidence_lease_key(RUN)) == 1
    noperm(lambda: h1.delete(evidence_lease_key(RUN)))
    h1.rpush(evidence_samples_key(RUN, "h1"), "{}")
    h1.ltrim(evidence_samples_key(RUN, "h1"), -10, -1)
    h1.expire(evidence_samples_key(RUN, "h1"), 60)
    noperm(lambda: h1.rpush(evidence_samples_key(RUN, "h2"), "{}"))
    noperm(lambda: h1.lrange(evidence_samples_key(RUN, "h2"), 0, -1))


def test_an_agent_writes_its_own_heartbeat_only(h1: redis.Redis, server: redis.Redis) -> None:
    beat(h1, "h1", now=1_700_000_000.5)
    assert last_beats(server, ["h1", "h2"]) == {"h1": 1_700_000_000.5}
    assert 0 < server.ttl(agent_heartbeat_key("h1")) <= 24 * 3600
    noperm(lambda: h1.set(agent_heartbeat_key("h2"), "1700000000"))
    beat(h1, "h2")  # refused by Redis; the agent logs it and carries on
    assert last_beats(server, ["h2"]) == {}


def test_an_agent_keeps_its_unacked_messages_in_keys_of_its_own(h1: redis.Redis) -> None:
    options = agent_transport_options("h1")
    h1.hset(options["unacked_key"], "tag", "[]")
    h1.zadd(options["unacked_index_key"], {"tag": 1.0})
    assert h1.set(options["unacked_mutex_key"], "token", nx=True, px=1000)
    h1.delete(options["unacked_mutex_key"])
    # kombu's shared ones: a forged entry there would be re-queued by another consumer.
    noperm(lambda: h1.hset("unacked", "tag", json.dumps([{}, "", "orchestrator"])))
    noperm(lambda: h1.zadd("unacked_index", {"tag": 1.0}))
    noperm(lambda: h1.hset(agent_transport_options("h2")["unacked_key"], "tag", "[]"))
    # Nor kombu's bindings, which route the orchestrator's messages.
    noperm(lambda: h1.sadd("_kombu.binding.agent.h1", "agent.h1\x06\x16\x06\x16orchestrator"))
    noperm(lambda: h1.smembers("_kombu.binding.agent.h2"))


@pytest.mark.parametrize(
    "command",
    [
        ("CONFIG", "GET", "dir"),
        ("CONFIG", "SET", "dir", "/tmp"),
        ("ACL", "LIST"),
        ("ACL", "SETUSER", "agent-h1", "+@all"),
        ("KEYS", "*"),
        ("SCAN", "0"),
        ("FLUSHDB",),
        ("FLUSHALL",),
        ("CLIENT", "LIST"),
        ("CLIENT", "KILL", "ID", "1"),
        ("MONITOR",),
        ("INFO",),
        ("SHUTDOWN",),
        ("SAVE",),
        ("SCRIPT", "FLUSH"),
        ("FUNCTION", "FLUSH"),
        ("REPLICAOF", "127.0.0.1", "1"),
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_an_agent_runs_none_of_the_commands_outside_its_list(
    h1: redis.Redis, command: tuple[str, ...]
) -> None:
    noperm(lambda: h1.execute_command(*command))


@pytest.mark.parametrize(
    "command",
    [
        ("CONFIG", "SET", "dir", "/tmp"),
        ("CONFIG", "GET", "requirepass"),
        ("ACL", "SETUSER", "agent-h1", "+@all"),
        ("ACL", "LIST"),
        ("FLUSHALL",),
        ("SHUTDOWN",),
        ("SAVE",),
        ("MODULE", "LIST"),
        ("REPLICAOF", "127.0.0.1", "1"),
        ("CLIENT", "KILL", "ID", "1"),
        ("MONITOR",),
        ("KEYS", "*"),
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_the_server_cannot_reconfigure_redis(server: redis.Redis, command: tuple[str, ...]) -> None:
    noperm(lambda: server.execute_command(*command))


def test_the_server_reaches_every_key_and_channel_it_works_with(server: redis.Redis) -> None:
    assert server.info("server")["redis_version"]
    for key in ("orchestrator", "agent.h1", "agent.h2", REGISTER_QUEUE, "asgi:group:run-1"):
        server.lpush(key, "m")
        assert server.lpop(key) == b"m"
    server.set(HALT_KEY + ":test", "1")
    server.delete(HALT_KEY + ":test")
    assert server.publish("/0.celery.pidbox", "x") == 0


def test_celery_keeps_the_reply_of_an_agent_task_where_the_agent_may_write_it() -> None:
    app = Celery(backend="redis://127.0.0.1:1/0")
    task_id = agent_task_id("db1")
    assert app.backend.get_key_for_task(task_id).decode() == f"{RESULT_KEY_PREFIX}{task_id}"


def test_setting_the_users_again_changes_nothing_and_keeps_the_passwords(
    broker: AclBroker,
) -> None:
    admin = broker.admin()
    try:
        before = sorted(admin.execute_command("ACL", "LIST"))
        passwords = [
            password_file(broker.credentials, u).read_text()
            for u in (ADMIN_USER, SERVER_USER, agent_user("h1"))
        ]
        ensure_users(admin, broker.credentials, ["h1", "h2"])
        assert sorted(admin.execute_command("ACL", "LIST")) == before
        assert passwords == [
            password_file(broker.credentials, u).read_text()
            for u in (ADMIN_USER, SERVER_USER, agent_user("h1"))
        ]
        report = check_users(admin, broker.credentials)
        assert report.ok, report.detail
    finally:
        admin.close()


def test_every_password_is_a_file_only_its_owner_reads(broker: AclBroker) -> None:
    for user in (ADMIN_USER, SERVER_USER, agent_user("h1"), agent_user("h2")):
        path = password_file(broker.credentials, user)
        assert path.stat().st_mode & 0o777 == 0o600, path
        assert path.parent.stat().st_mode & 0o777 == 0o700, path.parent


def test_a_default_user_left_on_and_a_missing_agent_user_are_reported(tmp_path: Path) -> None:
    with acl_broker(tmp_path, ["h1"]) as b:
        admin = b.admin()
        admin.execute_command("ACL", "SETUSER", "default", "on", "nopass", "+@all", "~*")
        admin.execute_command("ACL", "DELUSER", agent_user("h1"))
        report = check_users(admin, b.credentials)
        admin.close()
        secrets = [p.read_text().strip() for p in b.credentials.rglob("*.password")]
    assert not report.ok
    assert "the default user is on" in report.detail and "missing users: agent-h1" in report.detail
    assert secrets and not any(s in report.detail for s in secrets)
