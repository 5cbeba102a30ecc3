"""Kernel evidence on the agent's host: a drill's collectors, read every interval, sent to the run.

The runner starts a session with the task ``drillhall.agent.collect`` and keeps a lease key
alive in Redis while the run lives. The session's reader thread closes every collector when the
key is gone: deleted by the runner at the end of the run, or expired because the orchestrator
died. So collectors never outlive their drill, whoever fails.

Samples go to one Redis list per run (``samples_key``), which the runner drains each tick and
writes into the run's event stream: the one source of truth stays the run's events.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ebpf.collector import Collector, CollectorUnavailable, Scope
from ebpf.registry import open_collector

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
MAX_SAMPLES_KEPT = 20_000  # per run list: a runner that stopped draining cannot fill Redis
SAMPLES_TTL_S = 3600


def samples_key(run_id: int) -> str:
    return f"drillhall:evidence:{run_id}:samples"


def lease_key(run_id: int) -> str:
    return f"drillhall:evidence:{run_id}:lease"


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
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(entry / "ns" / "net").st_ino == netns_inode:
                found.add(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to see
            continue
    return found


@dataclass
class Session:
    run_id: int
    host: str
    interval: float
    collectors: list[Collector]
    store: EvidenceStore
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self._loop, name=f"evidence-{self.run_id}", daemon=True
        )
        self.thread.start()

    def _loop(self) -> None:
        key = samples_key(self.run_id)
        try:
            while not self.stop.wait(self.interval):
                if not self.store.exists(lease_key(self.run_id)):
                    log.info("run %s: evidence lease gone; closing collectors", self.run_id)
                    break
                now = time.time()
                batch = [
                    json.dumps({"host": self.host, "collector": c.name, **s.to_dict()})
                    for c in self.collectors
                    for s in _read(c, now)
                ]
                if batch:
                    self.store.rpush(key, *batch)
                    self.store.ltrim(key, -MAX_SAMPLES_KEPT, -1)
                    self.store.expire(key, SAMPLES_TTL_S)
        except Exception:
            log.exception("run %s: evidence reader failed; closing collectors", self.run_id)
        finally:
            for collector in self.collectors:
                _close(collector)


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
    """The sessions of one agent process, by run id; starting one twice is a no-op."""

    def __init__(self) -> None:
        self._sessions: dict[int, Session] = {}
        self._lock = threading.Lock()

    def start(
        self,
        run_id: int,
        host: str,
        names: list[str],
        scope: Scope,
        store: EvidenceStore,
        interval: float = 1.0,
    ) -> dict[str, Any]:
        with self._lock:
            self._reap()
            current = self._sessions.get(run_id)
            if current is not None:  # a redelivered task: the collectors already run
                return {
                    "collectors": [_described(c, "already running") for c in current.collectors]
                }
            opened: list[Collector] = []
            report = []
            for name in names:
                try:
                    collector, reason = open_collector(name, scope)
                except (CollectorUnavailable, KeyError) as exc:
                    report.append({"name": name, "source": None, "reason": str(exc)})
                    continue
                opened.append(collector)
                report.append(_described(collector, reason))
            session = Session(run_id, host, interval, opened, store)
            if opened:
                session.start()
                self._sessions[run_id] = session
            return {"collectors": report}

    def stop(self, run_id: int, timeout: float = 5.0) -> bool:
        with self._lock:
            session = self._sessions.pop(run_id, None)
        if session is None:
            return False
        session.stop.set()
        if session.thread is not None:
            session.thread.join(timeout)
        return True

    def running(self) -> list[int]:
        with self._lock:
            self._reap()
            return sorted(self._sessions)

    def _reap(self) -> None:
        for run_id, session in list(self._sessions.items()):
            if session.thread is not None and not session.thread.is_alive():
                del self._sessions[run_id]


def _described(collector: Collector, reason: str) -> dict[str, Any]:
    return {"name": collector.name, "source": collector.source.value, "reason": reason}
