"""The Celery FaultDriver: sends agent tasks by name to each host's queue."""

from __future__ import annotations

from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult

from drillhall.celery import app
from drills.engine.driver import AgentUnavailable


class _Reply:
    def __init__(self, result: AsyncResult) -> None:
        self._result = result

    def poll(self) -> dict[str, Any] | None:
        if not self._result.ready():
            return None
        if self._result.failed():
            return {"renewed": False, "state": f"error: {self._result.result}"}
        value = self._result.result
        return value if isinstance(value, dict) else None


class CeleryFaultDriver:
    def _call(self, name: str, queue: str, args: list[Any], timeout: float) -> dict[str, Any]:
        # expires: a message nobody took in time is dropped, never applied late.
        result = app.send_task(name, args=args, queue=queue, expires=timeout)
        try:
            value = result.get(timeout=timeout, disable_sync_subtasks=False, propagate=True)
        except CeleryTimeout:
            raise AgentUnavailable(
                f"no agent answered on queue {queue!r} within {timeout:g}s "
                f"(is `drillhall agent --host {queue.removeprefix('agent.')}` running?)"
            ) from None
        finally:
            result.forget()
        return value if isinstance(value, dict) else {}

    def ping(self, queue: str, timeout: float) -> dict[str, Any]:
        return self._call("drillhall.agent.ping", queue, [], timeout)

    def apply(self, queue: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
        return self._call("drillhall.agent.apply", queue, [spec], timeout)

    def renew(self, queue: str, fault_id: str, lease_seconds: float) -> _Reply:
        result = app.send_task(
            "drillhall.agent.renew",
            args=[fault_id, lease_seconds],
            queue=queue,
            expires=lease_seconds,
        )
        return _Reply(result)

    def revert(self, queue: str, fault_id: str, timeout: float) -> dict[str, Any]:
        return self._call("drillhall.agent.revert", queue, [fault_id], timeout)
