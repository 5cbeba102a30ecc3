"""How the orchestrator reaches agents: injector.protocol's tasks over Celery, and kernel
samples from the agents' Redis lists. The engine sees only drills.engine.driver's protocols."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult

from drillhall.celery import app
from drills.engine.driver import AgentRefused, AgentUnavailable
from injector.protocol import (
    AgentTask,
    ApplyReply,
    CollectReply,
    CollectRequest,
    EvidenceBeat,
    FaultSpec,
    KernelSampleMessage,
    PingReply,
    PingRequest,
    ProtocolError,
    Refusal,
    RenewReply,
    RenewRequest,
    RevertReply,
    RevertRequest,
    agent_task_id,
    evidence_lease_key,
    evidence_samples_key,
    host_of_queue,
    parse_evidence,
)

log = logging.getLogger(__name__)

DRAIN_AT_ONCE = 2000
T = TypeVar("T")


def _decode(value: Any, parse: Callable[[Any], T], queue: str) -> T:
    refusal = Refusal.from_reply(value)
    if refusal is not None:
        raise AgentRefused(refusal.message, refusal.permanent)
    try:
        return parse(value)
    except ProtocolError as exc:
        raise AgentRefused(
            f"the agent of {host_of_queue(queue)} answered in a form this server does not "
            f"understand ({exc}); are the agent and the server the same version?"
        ) from None


def task_id_for(queue: str) -> str | None:
    """A task id naming the queue's host, whose agent's Redis user may write the replies of
    such ids only (None, Celery's own id, for a queue that names no host)."""
    try:
        return agent_task_id(host_of_queue(queue))
    except ProtocolError:
        return None


class _Renewal:
    def __init__(self, result: AsyncResult | None, fault_id: str) -> None:
        self._result = result  # None: the renewal could not even be sent
        self._fault_id = fault_id

    def poll(self) -> RenewReply | None:
        try:
            if self._result is None or not self._result.ready():
                return None
        except Exception as exc:  # the result backend (Redis) is away: no answer yet
            log.warning("renewal of %s not readable: %s", self._fault_id, exc)
            return None
        # Only an agent's own "not renewed" says the fault ended; a renewal that failed or
        # came back unreadable says nothing of the fault, so it counts as unanswered: if
        # no later renewal is answered either, the lease runs out and the run says so.
        try:
            if self._result.failed():
                log.warning("renewal of %s failed: %s", self._fault_id, self._result.result)
                return None
            value = self._result.result
        finally:
            self._result.forget()
        refusal = Refusal.from_reply(value)
        if refusal is not None:
            log.warning("renewal of %s refused: %s", self._fault_id, refusal.message)
            return None
        try:
            return RenewReply.from_json(value)
        except ProtocolError as exc:
            log.warning("renewal of %s unreadable: %s", self._fault_id, exc)
            return None


class CeleryFaultDriver:
    def _call(self, task: AgentTask, queue: str, request: dict[str, Any], timeout: float) -> Any:
        # expires: a message nobody took in time is dropped, never applied late. The task id
        # names the host: its agent's Redis user may write the replies of such ids only.
        result = app.send_task(
            task, args=[request], queue=queue, expires=timeout, task_id=task_id_for(queue)
        )
        try:
            return result.get(timeout=timeout, disable_sync_subtasks=False, propagate=True)
        except CeleryTimeout:
            host = host_of_queue(queue)
            raise AgentUnavailable(
                f"the agent of host {host} did not answer within {timeout:g} s; is "
                f"`drillhall agent --host {host}` running?"
            ) from None
        finally:
            result.forget()

    def ping(self, queue: str, timeout: float) -> PingReply:
        value = self._call(AgentTask.PING, queue, PingRequest().to_json(), timeout)
        return _decode(value, PingReply.from_json, queue)

    def apply(self, queue: str, spec: FaultSpec, timeout: float) -> ApplyReply:
        value = self._call(AgentTask.APPLY, queue, spec.to_json(), timeout)
        return _decode(value, ApplyReply.from_json, queue)

    def renew(self, queue: str, fault_id: str, lease_seconds: float) -> _Renewal:
        request = RenewRequest(fault_id, lease_seconds)
        try:
            result = app.send_task(
                AgentTask.RENEW,
                args=[request.to_json()],
                queue=queue,
                expires=lease_seconds,
                task_id=task_id_for(queue),
            )
        except Exception as exc:
            # The broker is away for a moment: this renewal is lost like an unanswered one.
            # The next one may get through; if none does, the lease runs out on the host.
            log.warning("renewal of %s not sent: %s", fault_id, exc)
            return _Renewal(None, fault_id)
        return _Renewal(result, fault_id)

    def revert(self, queue: str, fault_id: str, timeout: float) -> RevertReply:
        value = self._call(AgentTask.REVERT, queue, RevertRequest(fault_id).to_json(), timeout)
        return _decode(value, RevertReply.from_json, queue)

    def collect(self, queue: str, request: CollectRequest, timeout: float) -> CollectReply:
        value = self._call(AgentTask.COLLECT, queue, request.to_json(), timeout)
        return _decode(value, CollectReply.from_json, queue)


class RedisEvidenceFeed:
    """Kernel samples from the agents through Redis (injector.evidence writes them), one list
    per host: an agent can write its own host's list only, and a sample in it that names
    another host is dropped."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._hosts: list[str] = []

    def open(self, run: str, lease_seconds: float, hosts: Sequence[str]) -> None:
        self._hosts = list(dict.fromkeys(hosts))
        if self._hosts:
            self._redis.delete(*self._samples_keys(run))
        self.keep_alive(run, lease_seconds)

    def _samples_keys(self, run: str) -> list[str]:
        return [evidence_samples_key(run, host) for host in self._hosts]

    def keep_alive(self, run: str, lease_seconds: float) -> None:
        try:
            self._redis.set(evidence_lease_key(run), "1", px=max(1, int(lease_seconds * 1000)))
        except redis.RedisError as exc:
            # Redis away for a moment: the collectors keep going on the agents until the lease
            # runs out, and what is lost meanwhile shows as a gap, not as "no effect".
            log.warning("run %s: evidence lease not renewed: %s", run, exc)

    def drain(self, run: str) -> list[KernelSampleMessage | EvidenceBeat]:
        with self._redis.pipeline() as pipe:  # read and remove in one step: nothing lost
            for key in self._samples_keys(run):
                pipe.lrange(key, 0, DRAIN_AT_ONCE - 1)
                pipe.ltrim(key, DRAIN_AT_ONCE, -1)
            replies = pipe.execute()
        out: list[KernelSampleMessage | EvidenceBeat] = []
        for host, raw in zip(self._hosts, replies[::2], strict=True):
            for item in raw:
                try:
                    message = parse_evidence(json.loads(item))
                except (ValueError, ProtocolError) as exc:
                    log.warning("run %s: an unreadable kernel sample was dropped: %s", run, exc)
                    continue
                if message.host != host:
                    log.warning("run %s: a sample naming host %s in the list of %s was dropped",
                                run, message.host, host)  # fmt: skip
                    continue
                out.append(message)
        return out

    def close(self, run: str) -> None:
        """Remove the lease (collectors stop) and the lists of the hosts given to ``open``;
        a feed that was not opened (the reaper's) leaves the lists to their expiry."""
        self._redis.delete(evidence_lease_key(run), *self._samples_keys(run))
