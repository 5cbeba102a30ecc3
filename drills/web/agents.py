"""How the orchestrator reaches agents: injector.protocol's tasks over Celery, and kernel
samples from the agents' Redis lists. The engine sees only drills.engine.driver's protocols.

Every request that changes what a host carries is signed with that host's key
(injector/signing.py; the keys are under DRILLHALL_CREDENTIALS_DIR), and before a run's first
fault on a host the driver admits the run there with a signed ticket: how long it may last,
the longest lease it asks for, and the approval that lets it touch a protected host
(``run_approval``). docs/agent-channel.md says what the agents check.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import redis
from celery import states
from celery.exceptions import TaskRevokedError
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult
from django.conf import settings
from django.utils import timezone

from drillhall.celery import app
from drills.engine.driver import AgentRefused, AgentUnavailable
from drills.web.metrics import lease_renewals
from drills.web.metrics.lease_renewals import Outcome
from injector.protocol import (
    SIGNATURE_SLACK_SECONDS,
    AdmitReply,
    AgentTask,
    ApplyReply,
    ApprovalRecord,
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
    RunTicket,
    evidence_lease_key,
    evidence_samples_key,
    host_of_queue,
    parse_evidence,
    task_id_for,
)
from injector.signing import KeyFileError, agent_key_path, load_key, sign

if TYPE_CHECKING:
    from drills.web.models import DrillRun

log = logging.getLogger(__name__)

DRAIN_AT_ONCE = 2000
# A run's ticket outlives its max_duration by this much (plus a lease): its steps have ended by
# then, and a run still asking for faults after that is one its agents should stop trusting.
TICKET_MARGIN_SECONDS = 120.0
T = TypeVar("T")


def run_approval(run: DrillRun) -> ApprovalRecord | None:
    """The approval that lets ``run`` fault protected hosts, as its agents are told it.

    The one place the orchestrator reads approvals for the agents: another person's approval
    of this run's own version, content hash and plan (drills.web.approvals); None when the run
    has none that counts, and its agents then refuse faults on protected hosts.
    """
    from drills.web.approvals import approval_of, approval_problem

    approval = approval_of(run)
    if approval is None or approval_problem(run) is not None:
        return None
    return ApprovalRecord(
        approved_by=approval.approver_name,
        approved_at=approval.approved_at.timestamp(),
        playbook=approval.playbook_name,
        version=approval.version_number,
        content_hash=approval.content_hash,
    )


def no_key_sentence(host: str) -> str:
    return f"host {host} has no agent key; enrol it with `drillhall enrol {host}`"


class AgentKeys:
    """The server's copy of every agent's key (DRILLHALL_CREDENTIALS_DIR/agents/<host>/)."""

    def __init__(self, directory: Path | None = None) -> None:
        where = settings.DRILLHALL_CREDENTIALS_DIR if directory is None else directory
        self.directory = Path(where)

    def key(self, host: str) -> bytes:
        # Read per request: a key enrolled or replaced while a server runs is used at once.
        path = agent_key_path(self.directory, host)
        if not path.exists():
            raise AgentRefused(no_key_sentence(host))
        try:
            return load_key(path)
        except KeyFileError as exc:
            raise AgentRefused(f"{exc}; enrol host {host} again") from None

    def missing(self, hosts: Iterable[str]) -> list[str]:
        """A sentence for each of ``hosts`` whose key the orchestrator cannot use."""
        sentences = []
        for host in sorted(set(hosts)):
            try:
                self.key(host)
            except AgentRefused as exc:
                sentences.append(str(exc))
        return sentences


@dataclass(frozen=True)
class RunAdmission:
    """What the orchestrator tells each host about a run before the run's first fault there."""

    run: str
    max_lease_seconds: float
    expires: float
    approval: ApprovalRecord | None = None

    @classmethod
    def of(cls, run: DrillRun, max_duration: float) -> RunAdmission:
        started = (run.started_at or timezone.now()).timestamp()
        lease = float(settings.DRILLHALL_LEASE_SECONDS)
        expires = started + max_duration + TICKET_MARGIN_SECONDS + lease
        return cls(run.key, lease, expires, run_approval(run))

    def ticket(self, host: str) -> RunTicket:
        return RunTicket(self.run, host, self.max_lease_seconds, self.expires, self.approval)


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


class _Renewal:
    def __init__(self, result: AsyncResult | None, fault_id: str, host: str) -> None:
        self._result = result  # None: the renewal could not even be sent
        self._fault_id = fault_id
        self._host = host

    def _counted(self, outcome: Outcome) -> None:
        lease_renewals.count(self._host, outcome)

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
                self._counted(Outcome.FAILED)
                return None
            value = self._result.result
        finally:
            self._result.forget()
        refusal = Refusal.from_reply(value)
        if refusal is not None:
            log.warning("renewal of %s refused: %s", self._fault_id, refusal.message)
            self._counted(Outcome.REFUSED)
            return None
        try:
            reply = RenewReply.from_json(value)
        except ProtocolError as exc:
            log.warning("renewal of %s unreadable: %s", self._fault_id, exc)
            self._counted(Outcome.FAILED)
            return None
        self._counted(Outcome.RENEWED if reply.renewed else Outcome.NOT_RENEWED)
        return reply


# How often a wait for an agent's reply also looks for it in Redis itself.
LOST_REPLY_CHECK_S = 1.0


def _stored_reply(result: AsyncResult) -> Callable[[], Any] | None:
    """The reply Redis holds for ``result``, as a call that returns it or raises what the
    task raised; None while there is none."""
    meta = result.backend.get_task_meta(result.id, cache=False)
    if meta.get("status") not in states.READY_STATES:
        return None
    if meta["status"] == states.SUCCESS:
        return lambda: meta["result"]

    def fail() -> Any:
        raise result.backend.exception_to_python(meta["result"])

    return fail


class CeleryFaultDriver:
    """Sends injector.protocol's tasks, signed, to the agents' queues and decodes the replies.

    ``admission``: the run whose faults this driver applies (without one it only reverts,
    as for a lost run); ``hosts``: queue -> host, where a queue is not ``agent.<host>``.
    """

    def __init__(
        self,
        keys: AgentKeys | None = None,
        admission: RunAdmission | None = None,
        hosts: Mapping[str, str] | None = None,
    ) -> None:
        self._keys = keys or AgentKeys()
        self._admission = admission
        self._hosts = dict(hosts or {})
        self._admitted: set[str] = set()

    @classmethod
    def for_run(cls, run: DrillRun, max_duration: float | None = None) -> CeleryFaultDriver:
        """The driver of one run: it signs for the run's hosts and, given the run's
        max_duration, admits the run on each host before its first fault there."""
        # The plan (and the playbook model under it) is imported here, not at the top: the
        # halt broadcast imports this module, and `drillhall halt` must not wait for it.
        from drills.engine.plan import Plan

        hosts = {}
        if run.plan:
            hosts = {fault.queue: fault.host for _, fault in Plan.from_dict(run.plan).faults()}
        admission = None if max_duration is None else RunAdmission.of(run, max_duration)
        return cls(admission=admission, hosts=hosts)

    def missing_keys(self) -> list[str]:
        """Why the run's hosts cannot be signed for (one sentence per host), if they cannot."""
        return self._keys.missing(self._hosts.values())

    def _host(self, queue: str) -> str:
        return self._hosts.get(queue) or host_of_queue(queue)

    def _signed(
        self, task: AgentTask, host: str, body: dict[str, Any], valid_for: float
    ) -> dict[str, Any]:
        expires = time.time() + valid_for + SIGNATURE_SLACK_SECONDS
        return sign(self._keys.key(host), task, host, body, expires).to_json()

    def _admit(self, queue: str, host: str, run: str, timeout: float) -> None:
        if host in self._admitted:
            return
        if self._admission is None or self._admission.run != run:
            raise AgentRefused(
                f"run {run} was not admitted on {host} by this orchestrator, so its faults "
                "cannot be applied there"
            )
        value = self._wait(self._send_admission(queue, host, timeout), queue, timeout)
        _decode(value, AdmitReply.from_json, queue)
        self._admitted.add(host)

    def _send_admission(self, queue: str, host: str, timeout: float) -> AsyncResult:
        assert self._admission is not None
        ticket = self._admission.ticket(host).to_json()
        body = self._signed(AgentTask.ADMIT, host, ticket, timeout)
        return self._send(AgentTask.ADMIT, queue, body, timeout)

    def _send(self, task: AgentTask, queue: str, request: dict[str, Any], timeout: float) -> Any:
        # expires: a message nobody took in time is dropped, never applied late. The task id
        # names the host: its agent's Redis user may write the replies of such ids only.
        return app.send_task(
            task, args=[request], queue=queue, expires=timeout, task_id=task_id_for(queue)
        )

    def _wait(self, result: AsyncResult, queue: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                try:
                    return result.get(
                        timeout=max(0.05, min(LOST_REPLY_CHECK_S, left)),
                        disable_sync_subtasks=False,
                        propagate=True,
                    )
                except CeleryTimeout:
                    # Celery's Redis result consumer, shared by the orchestrator's threads,
                    # can drop the notice of a stored reply (celery/celery#3761): an agent
                    # that answered in 10 ms looked dead for the whole timeout. The reply
                    # itself is in Redis: read it there.
                    stored = _stored_reply(result)
                    if stored is not None:
                        return stored()
                    if left <= LOST_REPLY_CHECK_S:
                        raise
        except CeleryTimeout:
            host = host_of_queue(queue)
            raise AgentUnavailable(
                f"the agent of host {host} did not answer within {timeout:g} s; is "
                f"`drillhall agent --host {host}` running?"
            ) from None
        except TaskRevokedError:
            # The agent took the request after its expiry (``_send``) and dropped it unread.
            host = host_of_queue(queue)
            raise AgentUnavailable(
                f"the agent of host {host} took the request only after it had waited "
                f"{timeout:g} s in the host's queue, and dropped it undone: the agent is "
                "running but was busy with other drills' requests for longer than that"
            ) from None
        finally:
            result.forget()

    def _call(self, task: AgentTask, queue: str, request: dict[str, Any], timeout: float) -> Any:
        return self._wait(self._send(task, queue, request, timeout), queue, timeout)

    def _wait_all(self, sent: list[tuple[str, AsyncResult]], timeout: float) -> list[Any]:
        """Every reply, or the exception that stood for it, in the order sent: the calls went
        out together, so the hosts answer side by side and the wait is the slowest one's."""
        deadline = time.monotonic() + timeout
        out: list[Any] = []
        for queue, result in sent:
            try:
                out.append(self._wait(result, queue, max(0.05, deadline - time.monotonic())))
            except Exception as exc:
                out.append(exc)
        return out

    def ask_ready(self, queues: Sequence[str], timeout: float) -> Callable[[], None]:
        """Every host of ``queues`` asked at once; with an admission, each admits the run (so
        its first fault is one call), else each answers a ping. The call returned waits for
        the answers and raises for the first host that did not give one."""
        sent: list[tuple[str, str, Callable[[Any], AdmitReply | PingReply], AsyncResult]] = []
        for queue in queues:
            host = self._host(queue)
            if self._admission is not None and host not in self._admitted:
                sent.append((queue, host, AdmitReply.from_json,
                             self._send_admission(queue, host, timeout)))  # fmt: skip
            else:
                request = PingRequest().to_json()
                sent.append((queue, host, PingReply.from_json,
                             self._send(AgentTask.PING, queue, request, timeout)))  # fmt: skip

        def answered() -> None:
            replies = self._wait_all([(queue, result) for queue, _, _, result in sent], timeout)
            failure: Exception | None = None
            for (queue, host, parse, _), value in zip(sent, replies, strict=True):
                try:
                    if isinstance(value, Exception):
                        raise value
                    reply = _decode(value, parse, queue)
                except Exception as exc:
                    failure = failure or exc
                    continue
                if isinstance(reply, AdmitReply):
                    self._admitted.add(host)
            if failure is not None:
                raise failure

        return answered

    def collect_all(
        self, requests: Sequence[tuple[str, CollectRequest]], timeout: float
    ) -> list[CollectReply | Exception]:
        """collect() on every host at once; each host's reply, or why it gave none."""
        sent = [(q, self._send(AgentTask.COLLECT, q, r.to_json(), timeout)) for q, r in requests]
        out: list[CollectReply | Exception] = []
        for (queue, _), value in zip(sent, self._wait_all(sent, timeout), strict=True):
            try:
                if isinstance(value, Exception):
                    raise value
                out.append(_decode(value, CollectReply.from_json, queue))
            except Exception as exc:
                out.append(exc)
        return out

    def ping(self, queue: str, timeout: float) -> PingReply:
        value = self._call(AgentTask.PING, queue, PingRequest().to_json(), timeout)
        return _decode(value, PingReply.from_json, queue)

    def apply(self, queue: str, spec: FaultSpec, timeout: float) -> ApplyReply:
        # The spec names its host (the plan puts it in every fault's params): the signature
        # binds the spec to it, and the agent on the queue refuses one meant for another.
        host = spec.host or self._host(queue)
        self._admit(queue, host, spec.run, timeout)
        request = self._signed(AgentTask.APPLY, host, spec.to_json(), timeout)
        value = self._call(AgentTask.APPLY, queue, request, timeout)
        return _decode(value, ApplyReply.from_json, queue)

    def renew(self, queue: str, fault_id: str, lease_seconds: float) -> _Renewal:
        body = RenewRequest(fault_id, lease_seconds).to_json()
        host = self._host(queue)
        try:
            request = self._signed(AgentTask.RENEW, host, body, lease_seconds)
            result = app.send_task(
                AgentTask.RENEW,
                args=[request],
                queue=queue,
                expires=lease_seconds,
                task_id=task_id_for(queue),
            )
        except Exception as exc:
            # The broker is away for a moment: this renewal is lost like an unanswered one.
            # The next one may get through; if none does, the lease runs out on the host.
            log.warning("renewal of %s not sent: %s", fault_id, exc)
            lease_renewals.count(host, Outcome.NOT_SENT)
            return _Renewal(None, fault_id, host)
        lease_renewals.count(host, Outcome.SENT)
        return _Renewal(result, fault_id, host)

    def revert(self, queue: str, fault_id: str, timeout: float) -> RevertReply:
        body = RevertRequest(fault_id).to_json()
        request = self._signed(AgentTask.REVERT, self._host(queue), body, timeout)
        value = self._call(AgentTask.REVERT, queue, request, timeout)
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
