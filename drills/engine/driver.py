"""How the engine reaches agents: the messages are injector.protocol's, the transport is not
the engine's business. The Celery implementation is drills/web/agents.py; tests use fakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from injector.protocol import (
    ApplyReply,
    CollectReply,
    CollectRequest,
    EvidenceBeat,
    FaultSpec,
    KernelSampleMessage,
    PingReply,
    RenewReply,
    RevertReply,
)


class AgentUnavailable(Exception):
    """No agent answered on a host's queue in time."""


class AgentRefused(Exception):
    """The agent answered, and refused: ``str(exc)`` is its sentence."""

    def __init__(self, message: str, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


class PendingReply(Protocol):
    def poll(self) -> RenewReply | None:
        """The reply if it has arrived, else None; never blocks."""
        ...


class FaultDriver(Protocol):
    def ping(self, queue: str, timeout: float) -> PingReply: ...

    def ask_ready(self, queues: Sequence[str], timeout: float) -> Callable[[], None]:
        """Ask every host's agent at once whether it is ready for this run's faults; the call
        returned waits for the answers (so the wait is the slowest one's), and raises
        AgentUnavailable or AgentRefused for the first host that is not. Other requests can
        go out meanwhile: an agent takes its messages in the order sent."""
        ...

    def apply(self, queue: str, spec: FaultSpec, timeout: float) -> ApplyReply: ...

    def renew(self, queue: str, fault_id: str, lease_seconds: float) -> PendingReply: ...

    def revert(self, queue: str, fault_id: str, timeout: float) -> RevertReply: ...

    def collect(self, queue: str, request: CollectRequest, timeout: float) -> CollectReply:
        """Start kernel collectors on a host; the reply says which source each one uses."""
        ...

    def collect_all(
        self, requests: Sequence[tuple[str, CollectRequest]], timeout: float
    ) -> list[CollectReply | Exception]:
        """``collect`` on several hosts at once (queue, request); for each, its reply or the
        exception that says why there is none, in the order given."""
        ...


class EvidenceFeed(Protocol):
    """Where agents' kernel samples come from, and the lease that keeps collectors alive."""

    def open(self, run: str, lease_seconds: float, hosts: Sequence[str]) -> None:
        """Start the run's lease; ``hosts`` are those whose samples ``drain`` reads."""
        ...

    def keep_alive(self, run: str, lease_seconds: float) -> None: ...

    def drain(self, run: str) -> list[KernelSampleMessage | EvidenceBeat]: ...

    def close(self, run: str) -> None:
        """Collectors stop (their lease is gone); samples still queued are dropped."""
        ...
