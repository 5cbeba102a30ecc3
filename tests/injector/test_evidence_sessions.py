"""The agent's evidence sessions with a real Redis: samples flow while the lease lives, and
the collectors are closed when the lease is deleted or expires."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest
import redis

from ebpf import warm
from ebpf.collector import KernelSample, Scope, Source
from injector.evidence import EvidenceSessions, pids_in
from injector.protocol import (
    CollectorStatus,
    CollectReply,
    CollectRequest,
    EvidenceBeat,
    KernelSampleMessage,
    parse_evidence,
)
from injector.protocol import evidence_lease_key as lease_key
from injector.protocol import evidence_samples_key as samples_key
from tests.conftest import redis_up, require
from tests.conftest import server_redis_url as redis_url

RUN = "987654"


class Counting:
    """A collector that counts its reads; stands in for a bcc program in this logic test."""

    def __init__(self, scope: Scope) -> None:
        self.name = "tcp_retransmits"
        self.source = Source.EBPF
        self.reads = 0
        self.closed = 0

    def attach(self) -> None:
        pass

    def read(self, now: float) -> list[KernelSample]:
        self.reads += 1
        return [KernelSample(now, "tcp_retransmits", float(self.reads), Source.EBPF)]

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def store() -> Iterator[redis.Redis]:
    require(redis_up(), f"needs Redis at {redis_url()}")
    client = redis.Redis.from_url(redis_url())
    client.delete(lease_key(RUN), samples_key(RUN, "web"))
    yield client
    client.delete(lease_key(RUN), samples_key(RUN, "web"))


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Counting]:
    made: list[Counting] = []

    def fake_open(name: str, scope: Scope) -> tuple[Counting, str]:
        made.append(Counting(scope))
        return made[-1], "eBPF"

    monkeypatch.setattr(warm, "open_collector", fake_open)
    return made


def request(interval: float = 1.0) -> CollectRequest:
    return CollectRequest(RUN, ("tcp_retransmits",), interval)


def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_samples_flow_to_the_run_list_while_the_lease_lives(
    store: redis.Redis, opened: list[Counting]
) -> None:
    store.set(lease_key(RUN), "1", px=5000)
    sessions = EvidenceSessions()
    reply = sessions.start(request(0.05), "web", Scope(), store)
    assert reply == CollectReply("web", (CollectorStatus("tcp_retransmits", "ebpf", "eBPF"),))
    key = samples_key(RUN, "web")
    wait_for(lambda: store.llen(key) >= 4)
    first, beat = (parse_evidence(json.loads(store.lindex(key, i))) for i in (0, 1))
    assert isinstance(first, KernelSampleMessage)
    assert (first.host, first.metric, first.value) == ("web", "tcp_retransmits", 1)
    # Every interval ends with a beat, samples or not: missing beats are lost evidence.
    assert isinstance(beat, EvidenceBeat) and beat.host == "web" and beat.t == first.t
    store.delete(lease_key(RUN))  # the run is over
    wait_for(lambda: opened[0].closed == 1)
    assert sessions.running() == []


def test_an_expired_lease_closes_the_collectors_without_anyone_asking(
    store: redis.Redis, opened: list[Counting]
) -> None:
    store.set(lease_key(RUN), "1", px=300)  # the orchestrator died and stopped renewing
    sessions = EvidenceSessions()
    sessions.start(request(0.05), "web", Scope(), store)
    wait_for(lambda: opened[0].closed == 1, timeout=3)
    reads = opened[0].reads
    time.sleep(0.2)
    assert opened[0].reads == reads


def test_a_redelivered_start_does_not_open_the_collectors_twice(
    store: redis.Redis, opened: list[Counting]
) -> None:
    store.set(lease_key(RUN), "1", px=5000)
    sessions = EvidenceSessions()
    sessions.start(request(0.05), "web", Scope(), store)
    again = sessions.start(request(0.05), "web", Scope(), store)
    assert len(opened) == 1
    assert again.collectors[0].reason == "already running"
    assert sessions.stop(RUN)
    assert opened[0].closed == 1


def test_asked_to_read_now_a_session_reads_at_once_not_at_its_intervals_end(
    store: redis.Redis, opened: list[Counting]
) -> None:
    store.set(lease_key(RUN), "1", px=5000)
    sessions = EvidenceSessions()
    sessions.start(request(30.0), "web", Scope(), store)
    asked = time.time()
    reply = sessions.start(CollectRequest(RUN, (), 30.0, read_now=True), "web", Scope(), store)
    assert [c.reason for c in reply.collectors] == ["read now"]
    wait_for(lambda: store.llen(samples_key(RUN, "web")) >= 2, timeout=2)
    beat = parse_evidence(json.loads(store.lindex(samples_key(RUN, "web"), -1)))
    # The session's own interval: the run judges gaps in the evidence by it.
    assert isinstance(beat, EvidenceBeat) and beat.t >= asked and beat.interval == 30.0
    assert opened[0].reads == 1 and len(opened) == 1
    assert sessions.stop(RUN)
    assert opened[0].closed == 1


def test_a_read_now_for_a_run_without_collectors_starts_none(
    store: redis.Redis, opened: list[Counting]
) -> None:
    store.set(lease_key(RUN), "1", px=5000)
    request_now = CollectRequest(RUN, ("tcp_retransmits",), 1.0, read_now=True)
    reply = EvidenceSessions().start(request_now, "web", Scope(), store)
    assert reply.collectors == () and opened == []


def test_an_unknown_collector_is_reported_not_fatal(store: redis.Redis) -> None:
    store.set(lease_key(RUN), "1", px=5000)
    reply = EvidenceSessions().start(
        CollectRequest(RUN, ("no_such_collector",)), "web", Scope(), store
    )
    [entry] = reply.collectors
    assert entry.source is None and "no_such_collector" in entry.reason


def test_the_host_scope_holds_the_processes_of_its_namespace_only() -> None:
    own = os.stat("/proc/self/ns/net").st_ino
    assert os.getpid() in pids_in(own)
    assert pids_in(1) == set()  # no namespace has inode 1 (nsfs numbers them from 2**32 - 2**28)
