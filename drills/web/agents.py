"""The Celery FaultDriver: sends agent tasks by name to each host's queue."""

from __future__ import annotations

import json
from typing import Any

import redis
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult

from drillhall.celery import app
from drills.engine.driver import AgentUnavailable
from injector.evidence import lease_key, samples_key

DRAIN_AT_ONCE = 2000


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

    def collect(
        self, queue: str, run_id: int, names: list[str], interval: float, timeout: float
    ) -> dict[str, Any]:
        return self._call("drillhall.agent.collect", queue, [run_id, names, interval], timeout)


class RedisEvidenceFeed:
    """Kernel samples from the agents through Redis (injector.evidence writes them)."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def open(self, run_id: int, lease_seconds: float) -> None:
        self._redis.delete(samples_key(run_id))
        self.keep_alive(run_id, lease_seconds)

    def keep_alive(self, run_id: int, lease_seconds: float) -> None:
        self._redis.set(lease_key(run_id), "1", px=max(1, int(lease_seconds * 1000)))

    def drain(self, run_id: int) -> list[dict[str, Any]]:
        key = samples_key(run_id)
        with self._redis.pipeline() as pipe:  # read and remove in one step: nothing lost
            pipe.lrange(key, 0, DRAIN_AT_ONCE - 1)
            pipe.ltrim(key, DRAIN_AT_ONCE, -1)
            raw, _ = pipe.execute()
        out = []
        for item in raw:
            try:
                message = json.loads(item)
            except ValueError:
                continue
            if isinstance(message, dict):
                out.append(message)
        return out

    def close(self, run_id: int) -> None:
        self._redis.delete(lease_key(run_id), samples_key(run_id))
