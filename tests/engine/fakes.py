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
    def __init__(self, value: dict[str, Any] | None) -> None:
        self.value = value

    def poll(self) -> dict[str, Any] | None:
        return self.value


class FakeDriver:
    """Applies a fault by breaking the service; records every call."""

    def __init__(self, service: Service, dead: bool = False) -> None:
        self.service = service
        self.dead = dead
        self.calls: list[tuple[str, str]] = []
        self.active: set[str] = set()

    def ping(self, queue: str, timeout: float) -> dict[str, Any]:
        if self.dead:
            raise AgentUnavailable(f"no agent answered on queue {queue!r}")
        return {"host": queue}

    def apply(self, queue: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
        fault_id = f"r{spec['run_id']}-s{spec['step']}-a{spec['attempt']}"
        self.calls.append(("apply", fault_id))
        self.active.add(fault_id)
        self.service.broken = True
        return {"fault_id": fault_id, "state": "applied", "mechanism": "fake"}

    def renew(self, queue: str, fault_id: str, lease_seconds: float) -> FakeReply:
        self.calls.append(("renew", fault_id))
        return FakeReply({"fault_id": fault_id, "renewed": fault_id in self.active})

    def revert(self, queue: str, fault_id: str, timeout: float) -> dict[str, Any]:
        self.calls.append(("revert", fault_id))
        self.active.discard(fault_id)
        self.service.broken = False
        return {"fault_id": fault_id, "state": "reverted"}

    def collect(
        self, queue: str, run_id: int, names: list[str], interval: float, timeout: float
    ) -> dict[str, Any]:
        self.calls.append(("collect", queue))
        if self.dead:
            raise AgentUnavailable(f"no agent answered on queue {queue!r}")
        return {"collectors": [{"name": n, "source": "ebpf", "reason": "fake"} for n in names]}


class FakeFeed:
    """Kernel samples as agents would send them: ``counts(host, t)`` gives each interval's
    {metric: value}; a sample per host per 0.2 s between open and close, stamped ``t``."""

    def __init__(self, hosts: list[str], counts: Callable[[str, float], dict[str, float]]):
        self.hosts = hosts
        self.counts = counts
        self.lease: float | None = None
        self.opened = self.closed = False
        self._next = 0.0

    def open(self, run_id: int, lease_seconds: float) -> None:
        self.opened, self.lease = True, lease_seconds
        self._next = time.time()

    def keep_alive(self, run_id: int, lease_seconds: float) -> None:
        self.lease = lease_seconds

    def drain(self, run_id: int) -> list[dict[str, Any]]:
        out = []
        while self._next + 0.2 <= time.time():
            self._next += 0.2
            for host in self.hosts:
                for metric, value in self.counts(host, self._next).items():
                    out.append({"t": self._next, "host": host, "metric": metric,
                                "value": value, "source": "ebpf"})  # fmt: skip
        return out

    def close(self, run_id: int) -> None:
        self.closed = True


class LosingDriver(FakeDriver):
    """Its fault also destroys acknowledged writes behind the canary's back: real data loss.

    `lose` deletes them from the real store and returns what it deleted, kept in `deleted`.
    """

    def __init__(self, service: Service, lose: Callable[[], Sequence[Any]]) -> None:
        super().__init__(service)
        self.lose = lose
        self.deleted: list[Any] = []

    def apply(self, queue: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.deleted = list(self.lose())
        return super().apply(queue, spec, timeout)
