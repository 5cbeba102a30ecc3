"""The host agent's own Celery app: no Django, no database, configured from the environment.

The tasks and their messages are defined in ``injector.protocol``; each task parses its request
there and answers with a reply (a ``Refusal`` when it will not do it), never with an exception.

Environment: REDIS_URL (broker, result backend and the halt flag), DRILLHALL_AGENT_HOST,
DRILLHALL_AGENT_NETNS (optional), DRILLHALL_AGENT_STATE (ledger directory), and what the gate
reads (injector.gate: DRILLHALL_AGENT_KEY_FILE, DRILLHALL_AGENT_PROTECTED,
DRILLHALL_AGENT_MAX_LEASE): admit, apply, renew and revert pass the gate first. The orchestrator
sends the tasks below by name to the host's queue (``protocol.agent_queue``); the supervisor
(``injector.supervisor``) runs this worker and the janitor.

The worker reaches Redis as its host's own user, ``agent-<host>`` (password in the
credentials directory, ``injector.credentials``), which may touch only its own keys
(``injector.redis_acl``). So it declares nothing (no kombu bindings), keeps its
unacknowledged messages under its own keys, has no remote control and sends no events.

When the worker is ready it registers its host with the orchestrator: the task
``REGISTER_HOST_TASK`` is sent by name to DRILLHALL_REGISTER_QUEUE ("registrations"),
with DRILLHALL_AGENT_ADDRESS, DRILLHALL_AGENT_LABELS and DRILLHALL_AGENT_SERVICES (JSON).
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import os
import signal
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis
from celery import Celery
from celery.signals import task_received, worker_init, worker_ready, worker_shutdown
from kombu import Queue

from injector import heartbeat
from injector.credentials import agent_redis_url, redacted
from injector.evidence import EvidenceSessions, host_scope
from injector.faults.fault import FaultError
from injector.gate import Gate, GateConfig, GateConfigError
from injector.halt import HaltFlag
from injector.host import AgentConfig, HostAgent, Registration, parse_request
from injector.protocol import (
    REGISTER_HOST_TASK,
    AgentTask,
    CollectRequest,
    HaltRequest,
    PingRequest,
    Refusal,
    ReleaseRequest,
    agent_queue,
    agent_task_id,
)
from injector.redis_acl import agent_transport_options
from injector.watchdog import TasksTaken, watch

_parse = parse_request

log = logging.getLogger(__name__)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_SCHEMES = {"redis", "rediss", "unix"}
PR_SET_PDEATHSIG = 1


def redis_url_from_env() -> str:
    """REDIS_URL, with this host's agent user and password when it names none."""
    url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    # A typo here would otherwise surface as a worker retrying a bogus broker forever.
    if urlsplit(url).scheme not in REDIS_SCHEMES:
        raise RuntimeError(
            f"REDIS_URL must be a redis://, rediss:// or unix:// URL, got {redacted(url)!r}"
        )
    host = os.environ.get("DRILLHALL_AGENT_HOST")
    return agent_redis_url(url, host) if host else url


def _own_queue(host: str) -> Queue:
    # no_declare: consuming a Redis list needs no binding, and the agent's user may not write
    # kombu's binding tables (an agent could otherwise bind another queue to its exchange).
    return Queue(agent_queue(host), no_declare=True)


def _host_settings() -> dict[str, Any]:
    """What a worker of one host's agent needs for its Redis user's narrow rights."""
    host = os.environ.get("DRILLHALL_AGENT_HOST")
    if not host:
        return {}  # imported without an agent to run (tests, tools)
    return {
        "broker_transport_options": agent_transport_options(host),
        "task_queues": (_own_queue(host),),
        # Remote control and events live in shared keys and channels (the pidbox, celeryev)
        # an agent's user may not touch; the supervisor and the watchdog do without them.
        "worker_enable_remote_control": False,
        "worker_send_task_events": False,
        "task_send_sent_event": False,
    }


# Not the current app: a process that imports this module beside the server's app (the tests,
# tools) must not send the server's shared tasks through the agent's broker user.
# No fixups: Celery's Django fixup starts whenever DJANGO_SETTINGS_MODULE is in the
# environment (it is, where the CLI or the lab starts the agent) and would set up the whole web
# app in the worker, about 60 MiB of an agent that never touches the database.
app = Celery("drillhall-agent", set_as_current=False, fixups=[])
app.conf.update(
    broker_url=redis_url_from_env(),
    result_backend=redis_url_from_env(),
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    # Results are read within seconds by the orchestrator; do not let them pile up in Redis.
    result_expires=3600,
    worker_hijack_root_logger=True,
    **_host_settings(),
)


def _host_agent() -> HostAgent:
    # Read per task: cheap, and it keeps the module importable where no agent env is set.
    config = AgentConfig.from_env()
    return HostAgent.from_config(config, _halt_flag(config.redis_url))


@functools.cache
def _halt_flag(redis_url: str | None) -> HaltFlag | None:
    # One client (and connection pool) per worker process, not one per task.
    return HaltFlag.from_url(redis_url) if redis_url else None


def _answer(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one request; a refusal is an ordinary reply with the agent's sentence in it."""
    try:
        return work()
    except FaultError as exc:
        log.warning("refused: %s", exc.message)
        return Refusal(exc.message, exc.permanent).to_json()


def _gate() -> Gate:
    try:
        return Gate.from_config(GateConfig.from_env())
    except GateConfigError as exc:
        raise FaultError(f"this agent cannot check what it is sent: {exc}", True) from None


@app.task(name=AgentTask.ADMIT)
def admit_run(request: dict[str, Any]) -> dict[str, Any]:
    return _answer(lambda: _gate().admit(request))


@app.task(name=AgentTask.APPLY)
def apply_fault(request: dict[str, Any]) -> dict[str, Any]:
    def apply() -> dict[str, Any]:
        spec = _gate().apply(request)
        return _host_agent().apply(spec)

    return _answer(apply)


@app.task(name=AgentTask.RENEW)
def renew_fault(request: dict[str, Any]) -> dict[str, Any]:
    def renew() -> dict[str, Any]:
        parsed = _gate().renew(request)
        return _host_agent().renew(parsed.fault_id, parsed.lease_seconds)

    return _answer(renew)


@app.task(name=AgentTask.REVERT)
def revert_fault(request: dict[str, Any]) -> dict[str, Any]:
    def revert() -> dict[str, Any]:
        return _host_agent().revert(_gate().revert(request).fault_id)

    return _answer(revert)


@app.task(name=AgentTask.PING)
def ping(request: dict[str, Any]) -> dict[str, Any]:
    def answer() -> dict[str, Any]:
        _parse(PingRequest.from_json, request)
        return _host_agent().ping()

    return _answer(answer)


@app.task(name=AgentTask.HALT)
def halt(request: dict[str, Any]) -> dict[str, Any]:
    def answer() -> dict[str, Any]:
        parsed = _parse(HaltRequest.from_json, request)
        return _host_agent().halt(parsed.since, parsed.reason, parsed.by)

    return _answer(answer)


@app.task(name=AgentTask.RELEASE)
def release(request: dict[str, Any]) -> dict[str, Any]:
    def answer() -> dict[str, Any]:
        body = _gate().open_signed(AgentTask.RELEASE, request)
        parsed = _parse(ReleaseRequest.from_json, body)
        return _host_agent().release(parsed.since, parsed.by)

    return _answer(answer)


_EVIDENCE = EvidenceSessions()


@functools.cache
def _evidence_store(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)


@app.task(name=AgentTask.COLLECT)
def collect(request: dict[str, Any]) -> dict[str, Any]:
    """Start the run's kernel collectors on this host; they stop when the run's lease key goes."""

    def start() -> dict[str, Any]:
        parsed = _parse(CollectRequest.from_json, request)
        config = AgentConfig.from_env()
        if not config.redis_url:
            raise FaultError("REDIS_URL is not set: kernel samples have nowhere to go", True)
        return _EVIDENCE.start(
            parsed,
            config.host,
            host_scope(config.netns),
            _evidence_store(config.redis_url),
        ).to_json()

    return _answer(start)


@worker_shutdown.connect
def _exit_without_a_last_collection(**_: Any) -> None:
    """The worker exits next: the garbage collector's last pass over everything Celery and the
    injector made is a few tenths of a second of every agent's stop, for memory the exit frees
    anyway (drills/cli/main.py does the same)."""
    gc.freeze()


@worker_init.connect
def _die_with_supervisor(**_: Any) -> None:
    """Ask the kernel to SIGTERM this worker when its supervisor dies, so none is orphaned."""
    supervisor_pid = os.environ.get("DRILLHALL_AGENT_SUPERVISOR_PID")
    if not supervisor_pid:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError) as exc:
        log.warning("cannot tie the worker's life to its supervisor: %s", exc)
        return
    if os.getppid() != int(supervisor_pid):
        # The supervisor died before prctl took effect.
        os.kill(os.getpid(), signal.SIGTERM)


def _broker_answers() -> bool:
    try:
        return bool(_evidence_store(redis_url_from_env()).ping())
    except redis.RedisError:
        return False


def _answers_itself(host: str, timeout: float = 2.0) -> bool:
    """Send this worker its own ping through the broker, and wait for its reply."""
    result = app.send_task(
        AgentTask.PING,
        args=[PingRequest().to_json()],
        queue=_own_queue(host),
        expires=timeout,
        task_id=agent_task_id(host),
    )
    try:
        return isinstance(result.get(timeout=timeout, disable_sync_subtasks=False), dict)
    except Exception:
        return False
    finally:
        result.forget()


# Tasks this worker has taken, for its watchdog: a busy worker is not a deaf one.
_TAKEN = TasksTaken()
task_received.connect(_TAKEN.count, weak=False)


@worker_ready.connect
def _watch_itself(sender: Any = None, **_: Any) -> None:
    """A worker that went deaf after a broker restart exits; its supervisor starts another.
    Each time it answers its own ping, it writes its heartbeat."""
    if sender is None or not getattr(sender, "hostname", None):
        return
    host = os.environ.get("DRILLHALL_AGENT_HOST")
    if not host:
        watch(app, sender.hostname, _broker_answers, progress=_TAKEN)
        return
    store = _evidence_store(redis_url_from_env())
    watch(
        app,
        sender.hostname,
        _broker_answers,
        answers=functools.partial(_answers_itself, host),
        on_answer=functools.partial(heartbeat.beat, store, host),
        progress=_TAKEN,
    )


@worker_ready.connect
def _register_host(**_: Any) -> None:
    """Announce this host to the orchestrator, each time a worker starts (idempotent there)."""
    try:
        registration = Registration.from_env()
        address = registration.resolve_address()
        if address is None:
            log.warning(
                "not registering host %s: no --address given and none found", registration.host
            )
            return
        app.send_task(
            REGISTER_HOST_TASK,
            args=[registration.payload(address)],
            # Straight into the list (kombu's default exchange): no binding to read or write.
            queue=Queue(registration.queue_name, no_declare=True),
            ignore_result=True,
        )
        log.info("registered host %s (%s) with %s", registration.host, address,
                 registration.queue_name)  # fmt: skip
    except Exception:
        # Registration is a convenience: a worker that cannot announce itself still serves.
        log.exception("registering this host failed")
