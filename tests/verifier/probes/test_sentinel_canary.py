"""A Redis canary that finds its master through Sentinel follows a failover, as an app does."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.conftest import free_port, require
from verifier.probes.canary import RedisCanary

PREFIX = "drillhall:test:sentinel:"


@dataclass
class Pair:
    primary: int
    replica: int
    sentinel: int

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, decode_responses=True, socket_timeout=2)

    def master_port(self) -> int:
        _, port = self.client(self.sentinel).execute_command(
            "SENTINEL", "get-master-addr-by-name", "shop"
        )
        return int(port)


def _wait(predicate, what: str, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@contextmanager
def _server(argv: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: _answers(port), f"redis on {port}", timeout=5)
        yield proc
    finally:
        proc.kill()  # no data to keep; SIGTERM would wait for replicas to catch up
        proc.wait(timeout=5)


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=0.2).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def pair() -> Iterator[Pair]:
    binary = shutil.which("redis-server")
    require(binary is not None, "needs redis-server (apt-get install redis-server)")
    assert binary is not None
    p = Pair(free_port(), free_port(), free_port())
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        base = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        for port, extra in (
            (p.primary, []),
            (p.replica, ["--replicaof", "127.0.0.1", str(p.primary)]),
        ):
            workdir = Path(tmp) / str(port)
            workdir.mkdir()
            stack.enter_context(
                _server([binary, "--port", str(port), "--dir", str(workdir), *base, *extra], port)
            )
        conf = Path(tmp) / "sentinel.conf"
        conf.write_text(
            f"port {p.sentinel}\nbind 127.0.0.1\ndir {tmp}\n"
            f"sentinel monitor shop 127.0.0.1 {p.primary} 1\n"
            "sentinel down-after-milliseconds shop 1000\n"
            "sentinel failover-timeout shop 3000\n"
        )
        stack.enter_context(_server([binary, str(conf), "--sentinel"], p.sentinel))
        _wait(
            lambda: p.client(p.primary).info("replication")["connected_slaves"] == 1,
            "the replica to attach",
        )
        _wait(lambda: _sentinel_knows_replica(p), "Sentinel to see the replica")
        yield p


def _sentinel_knows_replica(p: Pair) -> bool:
    replicas = p.client(p.sentinel).execute_command("SENTINEL", "replicas", "shop")
    return bool(replicas)


def canary(p: Pair) -> RedisCanary:
    return RedisCanary(
        "orders", None, PREFIX, timeout=0.5, sentinel=[f"127.0.0.1:{p.sentinel}"], master="shop"
    )


def test_a_sentinel_canary_writes_to_the_master_the_sentinels_name(pair: Pair) -> None:
    probe = canary(pair)
    try:
        for _ in range(5):
            assert probe.sample().ok
        assert pair.client(pair.primary).exists(*(f"{PREFIX}{n}" for n in range(1, 6))) == 5
        assert probe.verify() == []
    finally:
        probe.close()


def test_its_writes_follow_a_failover_and_verify_reads_the_new_master(pair: Pair) -> None:
    probe = canary(pair)
    try:
        assert probe.sample().ok
        _wait(lambda: _failover(pair), "Sentinel to accept a failover")
        _wait(lambda: pair.master_port() == pair.replica, "the failover")
        # The old master is demoted: the first write there fails (READONLY) or the
        # connection drops; within a few samples the canary writes to the new master.
        _wait(lambda: probe.sample().ok and _last_on(pair, probe, pair.replica), "writes to follow")
        # What verify() reads is the new master: a write missing there is lost.
        newest = probe.acknowledged()[-1]
        pair.client(pair.replica).delete(f"{PREFIX}{newest.seq}")
        assert newest in probe.verify()
    finally:
        probe.close()


def _failover(pair: Pair) -> bool:
    # Sentinel refuses (NOGOODSLAVE) until it has fresh INFO from the replica.
    try:
        return bool(pair.client(pair.sentinel).execute_command("SENTINEL", "failover", "shop"))
    except redis.ResponseError:
        return False


def _last_on(pair: Pair, probe: RedisCanary, port: int) -> bool:
    newest = probe.acknowledged()[-1]
    return bool(pair.client(port).exists(f"{PREFIX}{newest.seq}"))


def test_a_sample_fails_with_a_sentence_when_no_sentinel_answers() -> None:
    ports = [free_port(), free_port()]
    sentinels = [f"127.0.0.1:{port}" for port in ports]
    probe = RedisCanary("orders", None, PREFIX, timeout=0.2, sentinel=sentinels, master="shop")
    try:
        sample = probe.sample()
        assert not sample.ok and sample.seq is None
        # redis-py's own message quotes the repr of every Sentinel client it tried.
        assert sample.error == (
            f"no Sentinel named a master for shop that answers (asked {', '.join(sentinels)})"
        )
    finally:
        probe.close()
