"""Kernel evidence on the agent's host: a drill's collectors, read every interval, sent to the run.

The runner starts a session with the task ``AgentTask.COLLECT`` and keeps a lease key
alive in Redis while the run lives. The session's reader thread closes every collector when the
key is gone: deleted by the runner at the end of the run, or expired because the orchestrator
died. So collectors never outlive their drill, whoever fails.

Samples go to one Redis list per run and host (``protocol.evidence_samples_key``: an agent's
Redis user may write its own host's only), each interval's followed by a beat
(``protocol.EvidenceBeat``), which the runner drains each tick and writes into the run's event
stream: the one source of truth stays the run's events.

Scope: a host that is a network namespace (the lab, or a container) is watched by that
namespace's inode for network collectors and by the processes inside it for process collectors;
a host without one is watched whole.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ebpf.collector import Collector, CollectorUnavailable, KernelSample, Scope
from ebpf.warm import WarmCollectors
from injector.protocol import (
    MAX_SAMPLES_KEPT,
    SAMPLES_TTL_S,
    CollectorStatus,
    CollectReply,
    CollectRequest,
    EvidenceBeat,
    KernelSampleMessage,
    evidence_lease_key,
    evidence_samples_key,
)

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
# How long a session keeps its collectors while Redis does not answer: a broker restart is
# survived, a broker gone for good is not (the runner has given up on the run by then).
STORE_OUTAGE_LIMIT_S = 60.0


class EvidenceStore(Protocol):
    """The part of a Redis client a session uses (redis.Redis fits)."""

    def exists(self, *names: str) -> int: ...

    def rpush(self, name: str, *values: str) -> Any: ...

    def ltrim(self, name: str, start: int, end: int) -> Any: ...

    def expire(self, name: str, time: int) -> Any: ...


def host_scope(netns: str | None) -> Scope:
    """What the agent's host is: its namespace and the processes in it, or everything."""
    if not netns:
        return Scope()
    inode = os.stat(NETNS_DIR / netns).st_ino
    return Scope(netns_inodes=frozenset({inode}), pids=frozenset(pids_in(inode)), netns_name=netns)


def pids_in(netns_inode: int) -> set[int]:
    """Processes whose network namespace is ``netns_inode``: the host's services."""
    found = set()
    # Plain strings, not Path objects: this runs in every run's preflight, once per process
    # on the host (0.8 ms instead of 1.9 ms for 70 processes).
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}/ns/net").st_ino == netns_inode:
                found.add(int(name))
        except OSError:  # gone meanwhile, or not ours to see
            continue
    return found


@dataclass
class Session:
    run: str
    host: str
    interval: float
    collectors: list[Collector]
    store: EvidenceStore
    # What the end of the session does with each collector: close it, or keep it for the
    # next run (ebpf.warm).
    release: Callable[[Collector], None] = field(default=lambda c: _close(c))
    stop: threading.Event = field(default_factory=threading.Event)
    # Set to read before the interval is over (``read_now``), or to stop without waiting.
    wake: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name=f"evidence-{self.run}", daemon=True)
        self.thread.start()

    def read_now(self) -> None:
        """Read and send at once; the next read comes an interval after this one. The beat
        still says the session's interval: the run judges gaps by it."""
        self.wake.set()

    def end(self) -> None:
        self.stop.set()
        self.wake.set()

    def _loop(self) -> None:
        key = evidence_samples_key(self.run, self.host)
        failing_since: float | None = None
        try:
            while True:
                self.wake.wait(self.interval)
                self.wake.clear()
                if self.stop.is_set():
                    break
                now = time.time()
                # Read every interval even when the samples cannot be sent: the counters
                # start afresh, and the missing beats tell the run exactly what was lost.
                batch = [
                    json.dumps(_message(self.host, c.name, s).to_json())
                    for c in self.collectors
                    for s in _read(c, now)
                ]
                batch.append(json.dumps(EvidenceBeat(self.host, now, self.interval).to_json()))
                try:
                    if not self.store.exists(evidence_lease_key(self.run)):
                        log.info("run %s: evidence lease gone; closing collectors", self.run)
                        break
                    self.store.rpush(key, *batch)
                    self.store.ltrim(key, -MAX_SAMPLES_KEPT, -1)
                    self.store.expire(key, SAMPLES_TTL_S)
                    failing_since = None
                except Exception as exc:
                    failing_since = failing_since if failing_since is not None else now
                    if now - failing_since > STORE_OUTAGE_LIMIT_S:
                        log.error("run %s: Redis gone for %.0f s; closing collectors: %s",
                                  self.run, now - failing_since, exc)  # fmt: skip
                        break
                    log.warning("run %s: samples of this interval lost: %s", self.run, exc)
        except Exception:
            log.exception("run %s: evidence reader failed; closing collectors", self.run)
        finally:
            for collector in self.collectors:
                self.release(collector)


def _message(host: str, collector: str, sample: KernelSample) -> KernelSampleMessage:
    return KernelSampleMessage(
        host=host,
        collector=collector,
        t=sample.t,
        metric=sample.metric,
        value=sample.value,
        source=sample.source.value,
        count=sample.count,
        # JSON keys are strings; keep bounds readable ("0.064", "1.0").
        buckets={f"{bound:g}": n for bound, n in sorted(sample.buckets.items())},
        labels=dict(sample.labels),
    )


def _read(collector: Collector, now: float) -> list[Any]:
    try:
        return collector.read(now)
    except Exception:  # one broken collector must not silence the others
        log.exception("collector %s failed to read", collector.name)
        return []


def _close(collector: Collector) -> None:
    try:
        collector.close()
    except Exception:
        log.exception("collector %s failed to close", collector.name)


class EvidenceSessions:
    """The sessions of one agent process, by run key; starting one twice is a no-op.

    The eBPF programs are compiled on a host's first run and kept, paused, between runs
    (``ebpf.warm``): a later run's collectors start in milliseconds instead of seconds.
    """

    def __init__(self, warm: WarmCollectors | None = None) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._warm = warm or WarmCollectors()

    def start(
        self, request: CollectRequest, host: str, scope: Scope, store: EvidenceStore
    ) -> CollectReply:
        with self._lock:
            self._reap()
            current = self._sessions.get(request.run)
            if request.read_now:  # never starts anything: the run is ending
                if current is None:
                    return CollectReply(host, ())
                current.read_now()
                return CollectReply(
                    host, tuple(_described(c, "read now") for c in current.collectors)
                )
            if current is not None:  # a redelivered task: the collectors already run
                return CollectReply(
                    host, tuple(_described(c, "already running") for c in current.collectors)
                )
            opened: list[Collector] = []
            report = []
            for name in request.names:
                try:
                    collector, reason = self._warm.take(name, scope)
                except (CollectorUnavailable, KeyError) as exc:
                    report.append(CollectorStatus(name, None, str(exc)))
                    continue
                opened.append(collector)
                report.append(_described(collector, reason))
            session = Session(
                request.run, host, request.interval, opened, store, self._warm.give_back
            )
            if opened:
                session.start()
                self._sessions[request.run] = session
            return CollectReply(host, tuple(report))

    def stop(self, run: str, timeout: float = 5.0) -> bool:
        with self._lock:
            session = self._sessions.pop(run, None)
        if session is None:
            return False
        session.end()
        if session.thread is not None:
            session.thread.join(timeout)
        return True

    def running(self) -> list[str]:
        with self._lock:
            self._reap()
            return sorted(self._sessions)

    def _reap(self) -> None:
        for run, session in list(self._sessions.items()):
            if session.thread is not None and not session.thread.is_alive():
                del self._sessions[run]


def _described(collector: Collector, reason: str) -> CollectorStatus:
    return CollectorStatus(collector.name, collector.source.value, reason)
