"""The lab's way to Redis: Redis listens on one more address while the lab is up and stops
after, and lab agents get the bridge's URL with no password in it. Against a real Redis of the
test's own, with 127.0.0.2 (a loopback address nobody else binds) standing in for the bridge."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from drills.lab.broker import bind_addresses, lab_broker_url, listen_on, stop_listening_on
from drills.lab.lab_error import LabError
from injector.credentials import admin_redis_url
from tests.acl_broker import acl_broker, in_netns
from tests.conftest import have_root, require, run

BRIDGE = "127.0.0.2"


def answers_at(address: str, url: str) -> bool:
    """Whether Redis answers ``url``'s user at ``address`` instead of 127.0.0.1."""
    try:
        client = redis.Redis.from_url(url.replace("127.0.0.1", address, 1))
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_redis_listens_on_the_bridge_while_asked_and_only_then(tmp_path: Path) -> None:
    with acl_broker(tmp_path, []) as broker:
        admin = broker.admin()
        server = broker.url_of("drillhall")
        assert not answers_at(BRIDGE, server)
        assert listen_on(admin, BRIDGE) is True
        assert listen_on(admin, BRIDGE) is False  # a second lab up changes nothing
        assert bind_addresses(admin) == ["127.0.0.1", BRIDGE]
        assert answers_at(BRIDGE, server)
        assert stop_listening_on(admin, BRIDGE) is True
        assert stop_listening_on(admin, BRIDGE) is False
        assert bind_addresses(admin) == ["127.0.0.1"]
        assert not answers_at(BRIDGE, server)
        assert answers_at("127.0.0.1", server)
        admin.close()


def test_only_admin_may_move_what_redis_listens_on(tmp_path: Path) -> None:
    with acl_broker(tmp_path, ["web"]) as broker:
        for user in ("drillhall", "agent-web"):
            with pytest.raises(redis.exceptions.NoPermissionError):
                listen_on(broker.client(user), BRIDGE)


def test_a_lab_agent_gets_the_bridge_url_with_no_password() -> None:
    assert lab_broker_url("redis://127.0.0.1:6412/12", "10.77.0.1") == "redis://10.77.0.1:6412/12"
    assert lab_broker_url("redis://localhost/3", "10.77.0.1") == "redis://10.77.0.1:6379/3"
    assert (
        lab_broker_url("redis://drillhall:secret@127.0.0.1:6379/0", "10.77.0.1")
        == "redis://10.77.0.1:6379/0"
    )
    with pytest.raises(LabError, match="must run on this machine"):
        lab_broker_url("redis://redis.example.com:6379/0", "10.77.0.1")
    with pytest.raises(LabError, match="over TCP"):
        lab_broker_url("unix:///run/redis.sock", "10.77.0.1")


def test_an_optional_bridge_address_redis_skipped_at_start_is_bound_at_lab_up(
    tmp_path: Path,
) -> None:
    # Redis starts before the bridge exists (as a test's own Redis may): "-ADDRESS" is skipped.
    # Inside a namespace of the test's own, so that the address can appear later.
    require(have_root(), "needs root (a network namespace)")
    netns = f"dht-broker-{os.getpid()}"
    address = "198.18.99.1"
    run(["ip", "netns", "add", netns])
    try:
        run(["ip", "-n", netns, "link", "set", "lo", "up"])
        with acl_broker(tmp_path, [], ("--bind", "127.0.0.1", f"-{address}"), netns=netns) as b:
            run(["ip", "-n", netns, "addr", "add", f"{address}/32", "dev", "lo"])
            admin_url, server = admin_redis_url(b.url, b.credentials), b.url_of("drillhall")

            def inside() -> list[object]:
                admin = redis.Redis.from_url(admin_url)
                before = answers_at(address, server)
                bound = listen_on(admin, address)
                return [before, bound, bind_addresses(admin), answers_at(address, server)]

            assert in_netns(netns, inside) == [False, True, ["127.0.0.1", address], True]
    finally:
        run(["ip", "netns", "del", netns], check=False)
