"""How the engine reaches agents. The Celery implementation lives in drills/agents.py."""

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
