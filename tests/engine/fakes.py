"""Fakes for run-loop tests: an agent driver, the service its faults "break", probes and a
kernel evidence feed.

The driver stands in for agents (pure logic of the loop). Real-time tests watch a real
loopback HTTP service (``Service``) that answers 503 while a fault is applied, through real
probes in threads. Fake-clock tests watch a ``FakeService`` through ``FakeProbe``s, which the
probe pool samples on the loop's tick: no socket and no real time, so a 60 s drill takes
milliseconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from drills.engine.clock import Clock, SystemClock
from drills.engine.driver import AgentUnavailable
from drills.engine.plan import HostInfo, PlannedProbe
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
from verifier.windows import Sample

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
        # A short poll: shutdown() waits for one, and every test that uses a service pays it.
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

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


class FakeService:
    """What fake probes watch: ``broken`` while a fake fault is on, until ``heals_at`` on the
    clock (the agent reverted the fault by itself then)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._broken = False
        self.heals_at: float | None = None

    @property
    def broken(self) -> bool:
        healed = self.heals_at is not None and self.clock.now() >= self.heals_at
        return self._broken and not healed

    @broken.setter
    def broken(self, value: bool) -> None:
        self._broken = value


class FakeProbe:
    """Reports the service's state at once: 503 while broken, else 200 (the pool stamps it)."""

    def __init__(self, name: str, service: FakeService) -> None:
        self.name = name
        self.service = service

    def sample(self) -> Sample:
        broken = self.service.broken
        status = 503 if broken else 200
        error = "HTTP 503" if broken else None
        return Sample(self.service.clock.now(), self.name, not broken, 1.0, status, error)


def fake_probes(service: FakeService) -> Callable[[PlannedProbe], FakeProbe]:
    """A probe builder for DrillRunner: every planned probe watches ``service``."""
    return lambda planned: FakeProbe(planned.name, service)


class FakeReply:
    def __init__(self, value: RenewReply | None) -> None:
        self.value = value

    def poll(self) -> RenewReply | None:
        return self.value


class FakeDriver:
    """Applies a fault by breaking the service; records every call.

    ``end_early(at, detail)``: the agent reverts its faults by itself at ``at`` (its worker
    restarted, a halt): renewals from then on answer ``renewed: False``. ``silent``: renewals
    sent in that span of clock time are never answered (a stuck worker, a lost broker).
    """

    def __init__(
        self, service: Service | FakeService, dead: bool = False, clock: Clock | None = None
    ) -> None:
        self.service = service
        self.dead = dead
        self.clock = clock or SystemClock()
        self.calls: list[tuple[str, str]] = []
        self.preflight: list[str] = []  # the order of the calls before the baseline
        self.active: set[str] = set()
        self.ended: tuple[float, str] | None = None
        self.silent: tuple[float, float] | None = None
        # What a host's agent does when asked to read its collectors at once (a FakeFeed's
        # ``read_now``); by default nothing, as an agent that predates the request.
        self.on_read_now: Callable[[str], None] | None = None

    def end_early(self, at: float, detail: str) -> None:
        self.ended = (at, detail)
        if isinstance(self.service, FakeService):
            self.service.heals_at = at

    def ping(self, queue: str, timeout: float) -> PingReply:
        if self.dead:
            raise AgentUnavailable(f"no agent answered on queue {queue!r}")
        return PingReply(queue.removeprefix("agent."))

    def ask_ready(self, queues: Sequence[str], timeout: float) -> Callable[[], None]:
        self.preflight.append("asked ready")

        def answered() -> None:
            self.preflight.append("ready")
            for queue in queues:
                self.ping(queue, timeout)

        return answered

    def apply(self, queue: str, spec: FaultSpec, timeout: float) -> ApplyReply:
        fault_id = spec.fault_id
        self.calls.append(("apply", fault_id))
        self.active.add(fault_id)
        self.service.broken = True
        deadline = self.clock.now() + spec.lease_seconds
        return ApplyReply(fault_id, queue.removeprefix("agent."), "fake", deadline)

    def renew(self, queue: str, fault_id: str, lease_seconds: float) -> FakeReply:
        self.calls.append(("renew", fault_id))
        now = self.clock.now()
        if self.silent is not None and self.silent[0] <= now < self.silent[1]:
            return FakeReply(None)
        if self.ended is not None and now >= self.ended[0] and fault_id in self.active:
            at, detail = self.ended
            return FakeReply(RenewReply(fault_id, FaultState.REVERTED, False, None, at, detail))
        on = fault_id in self.active
        state = FaultState.APPLIED if on else FaultState.UNKNOWN
        return FakeReply(RenewReply(fault_id, state, on, now + lease_seconds if on else None))

    def revert(self, queue: str, fault_id: str, timeout: float) -> RevertReply:
        self.calls.append(("revert", fault_id))
        self.active.discard(fault_id)
        self.service.broken = False
        return RevertReply(fault_id, queue.removeprefix("agent."), FaultState.REVERTED)

    def collect(self, queue: str, request: CollectRequest, timeout: float) -> CollectReply:
        if request.read_now:
            self.calls.append(("read now", queue))
            self.clock.sleep(0.01)  # the request's way to the agent, which reads on arrival
            if self.on_read_now is not None:
                self.on_read_now(queue.removeprefix("agent."))
            return CollectReply(queue.removeprefix("agent."), ())
        self.calls.append(("collect", queue))
        self.preflight.append("collect")
        if self.dead:
            raise AgentUnavailable(f"no agent answered on queue {queue!r}")
        host = queue.removeprefix("agent.")
        return CollectReply(host, tuple(CollectorStatus(n, "ebpf", "fake") for n in request.names))

    def collect_all(
        self, requests: Sequence[tuple[str, CollectRequest]], timeout: float
    ) -> list[CollectReply | Exception]:
        out: list[CollectReply | Exception] = []
        for queue, request in requests:
            try:
                out.append(self.collect(queue, request, timeout))
            except Exception as exc:
                out.append(exc)
        return out


class FakeFeed:
    """Kernel samples as agents would send them: ``counts(host, t)`` gives each interval's
    {metric: value}; a sample and a beat per host per ``interval`` between open and close,
    stamped ``t``. Where ``lost(t)`` is true the interval never arrives (a broker restart);
    while ``failing(now)`` is true a drain raises (the run cannot reach the broker)."""

    def __init__(
        self,
        hosts: list[str],
        counts: Callable[[str, float], dict[str, float]],
        clock: Clock | None = None,
        lost: Callable[[float], bool] = lambda t: False,
        interval: float = 0.2,
        failing: Callable[[float], bool] = lambda now: False,
    ):
        self.hosts = hosts
        self.counts = counts
        self.clock = clock or SystemClock()
        self.lost = lost
        self.failing = failing
        self.interval = interval
        self.lease: float | None = None
        self.opened = self.closed = False
        self._next = 0.0
        self._read_now: list[tuple[str, float]] = []  # (host, when) reads asked for

    def read_now(self, host: str) -> None:
        """``host`` reads at once: its samples and beat come with the next drain."""
        self._read_now.append((host, self.clock.now()))

    def open(self, run: str, lease_seconds: float, hosts: Sequence[str]) -> None:
        self.opened, self.lease = True, lease_seconds
        self._next = self.clock.now()

    def keep_alive(self, run: str, lease_seconds: float) -> None:
        self.lease = lease_seconds

    def drain(self, run: str) -> list[KernelSampleMessage | EvidenceBeat]:
        if self.failing(self.clock.now()):
            raise ConnectionError("Connection refused")
        out: list[KernelSampleMessage | EvidenceBeat] = []
        while self._next + self.interval <= self.clock.now():
            self._next += self.interval
            if self.lost(self._next):
                continue
            for host in self.hosts:
                for metric, value in self.counts(host, self._next).items():
                    out.append(KernelSampleMessage(host, "fake", self._next, metric, value))
                out.append(EvidenceBeat(host, self._next, self.interval))
        for host, t in self._read_now:
            out.extend(KernelSampleMessage(host, "fake", t, metric, value)
                       for metric, value in self.counts(host, t).items())  # fmt: skip
            out.append(EvidenceBeat(host, t, self.interval))
        self._read_now.clear()
        return out

    def close(self, run: str) -> None:
        self.closed = True


class LosingDriver(FakeDriver):
    """Its fault also destroys acknowledged writes behind the canary's back: real data loss.

    `lose` deletes them from the real store and returns what it deleted, kept in `deleted`.
    """

    def __init__(self, service: Service | FakeService, lose: Callable[[], Sequence[Any]]) -> None:
        super().__init__(service)
        self.lose = lose
        self.deleted: list[Any] = []

    def apply(self, queue: str, spec: FaultSpec, timeout: float) -> ApplyReply:
        self.deleted = list(self.lose())
        return super().apply(queue, spec, timeout)


class HarmlessDriver(FakeDriver):
    """Its fault applies (the agent says so) and breaks nothing: the service stays healthy."""

    def apply(self, queue: str, spec: FaultSpec, timeout: float) -> ApplyReply:
        reply = super().apply(queue, spec, timeout)
        self.service.broken = False
        return reply
