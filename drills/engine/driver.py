"""How the engine reaches agents. The Celery implementation lives in drills/web/agents.py."""

from __future__ import annotations

from typing import Any, Protocol


class AgentUnavailable(Exception):
    """No agent answered on a host's queue in time."""


class PendingReply(Protocol):
    def poll(self) -> dict[str, Any] | None:
        """The reply if it has arrived, else None; never blocks."""
        ...


class FaultDriver(Protocol):
    def ping(self, queue: str, timeout: float) -> dict[str, Any]: ...

    def apply(self, queue: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]: ...

    def renew(self, queue: str, fault_id: str, lease_seconds: float) -> PendingReply: ...

    def revert(self, queue: str, fault_id: str, timeout: float) -> dict[str, Any]: ...

    def collect(
        self, queue: str, run_id: int, names: list[str], interval: float, timeout: float
    ) -> dict[str, Any]:
        """Start kernel collectors on a host; the reply says which source each one uses."""
        ...


class EvidenceFeed(Protocol):
    """Where agents' kernel samples come from, and the lease that keeps collectors alive."""

    def open(self, run_id: int, lease_seconds: float) -> None: ...

    def keep_alive(self, run_id: int, lease_seconds: float) -> None: ...

    def drain(self, run_id: int) -> list[dict[str, Any]]: ...

    def close(self, run_id: int) -> None:
        """Collectors stop (their lease is gone); samples still queued are dropped."""
        ...
