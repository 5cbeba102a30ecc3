"""A fake agent driver and a real loopback service it "breaks", for run-loop tests.

The driver stands in for agents (pure logic of the loop); the fault's effect is the loopback
service answering 503 while the fault is applied, so verdicts come from real probes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from drills.engine.driver import AgentUnavailable
from drills.engine.plan import HostInfo
from injector.protocol import (
    ApplyReply,
    CollectorStatus,
    CollectReply,
    CollectRequest,
    EvidenceBeat,
    FaultSpec,
    FaultState,
    KernelSampleMessage,
    PingReply,
    RenewReply,
    RevertReply,
)

INVENTORY = {
    "h1": HostInfo("h1", "10.0.0.1", "agent.h1"),
    "h2": HostInfo("h2", "10.0.0.2", "agent.h2"),
}


class Service:
    """An HTTP server on loopback: 200, or 503 while `broken`. Closed on leaving `with`."""

    def __init__(self) -> None:
        self.broken = False
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(503 if service.broken else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> Service:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeReply:
    def __init__(self, value: RenewReply | None) -> None:
        self.value = value

    def poll(self) -> RenewReply | None:
        return self.value


class FakeDriver:
    """Applies a fault by breaking the service; records every call."""

    def __init__(self, service: Service, dead: bool = False) -> None:
        self.service = service
        self.dead = dead
        self.calls: list[tuple[str, str]] = []
        self.active: set[str] = set()

    def ping(self, queue: str, timeout: float) -> PingReply:
        if self.dead:
            raise AgentUnavailable(f"no agent answered on queue {queue!r}")
        return PingReply(queue.removeprefix("agent."))

    def apply(self, queue: str, spec: FaultSpec, timeout: float) -> ApplyReply:
        fault_id = spec.fault_id
        self.calls.append(("apply", fault_id))
        self.active.add(fault_id)
        self.service.broken = True
        return ApplyReply(fault_id, queue.removeprefix("agent."), "fake", time.time() + 60)

    def renew(self, queue: str, fault_id: str, lease_seconds: float) -> FakeReply:
        self.calls.append(("renew", fault_id))
        on = fault_id in self.active
        state = FaultState.APPLIED if on else FaultState.UNKNOWN
        return FakeReply(RenewReply(fault_id, state, on))

    def revert(self, queue: str, fault_id: str, timeout: float) -> RevertReply:
        self.calls.append(("revert", fault_id))
        self.active.discard(fault_id)
        self.service.broken = False
        return RevertReply(fault_id, queue.removeprefix("agent."), FaultState.REVERTED)

    def collect(self, queue: str, request: CollectRequest, timeout: float) -> CollectReply:
        self.calls.append(("collect", queue))
        if self.dead:
            raise AgentUnavailable(f"no agent answered on queue {queue!r}")
        host = queue.removeprefix("agent.")
        return CollectReply(host, tuple(CollectorStatus(n, "ebpf", "fake") for n in request.names))


class FakeFeed:
    """Kernel samples as agents would send them: ``counts(host, t)`` gives each interval's
    {metric: value}; a sample per host per 0.2 s between open and close, stamped ``t``."""

    def __init__(self, hosts: list[str], counts: Callable[[str, float], dict[str, float]]):
        self.hosts = hosts
        self.counts = counts
        self.lease: float | None = None
        self.opened = self.closed = False
        self._next = 0.0

    def open(self, run: str, lease_seconds: float) -> None:
        self.opened, self.lease = True, lease_seconds
        self._next = time.time()

    def keep_alive(self, run: str, lease_seconds: float) -> None:
        self.lease = lease_seconds

    def drain(self, run: str) -> list[KernelSampleMessage | EvidenceBeat]:
        out: list[KernelSampleMessage | EvidenceBeat] = []
        while self._next + 0.2 <= time.time():
            self._next += 0.2
            for host in self.hosts:
                for metric, value in self.counts(host, self._next).items():
                    out.append(KernelSampleMessage(host, "fake", self._next, metric, value))
                out.append(EvidenceBeat(host, self._next, 0.2))
        return out

    def close(self, run: str) -> None:
        self.closed = True


class LosingDriver(FakeDriver):
    """Its fault also destroys acknowledged writes behind the canary's back: real data loss.

    `lose` deletes them from the real store and returns what it deleted, kept in `deleted`.
    """

    def __init__(self, service: Service, lose: Callable[[], Sequence[Any]]) -> None:
        super().__init__(service)
        self.lose = lose
        self.deleted: list[Any] = []

    def apply(self, queue: str, spec: FaultSpec, timeout: float) -> ApplyReply:
        self.deleted = list(self.lose())
        return super().apply(queue, spec, timeout)
