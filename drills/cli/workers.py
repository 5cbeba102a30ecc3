"""Finding running workers and agents, and starting the missing ones."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from drills.cli.worker_pool import WorkerPool
from injector.commands import NETNS_DIR, valid_netns_name


def active_queues(
    timeout: float = 1.0,
    broker_url: str | None = None,
    agents: Iterable[str] = (),
    workers: Iterable[str] = (),
    remote_control: bool = True,
) -> set[str]:
    """Queues some worker consumes now, on the Django app's broker or broker_url's: those of
    orchestrator workers (Celery's remote control), and of the ``agents`` queues those whose
    agent answers a ping (agents have no remote control: their Redis users may not reach it).

    The agents are pinged before the broadcast and their answers collected after it, so the
    question costs one ``timeout``, not two. Given ``workers`` (node names, ``name@host``),
    only those are asked, and the question ends as soon as they have all answered, instead of
    waiting ``timeout`` for workers nobody knows of. Without ``remote_control`` only the agents
    are asked.
    """
    from celery import Celery

    from injector.credentials import server_redis_url

    if broker_url is None:
        from drillhall.celery import app
    else:
        url = server_redis_url(broker_url)
        app = Celery(broker=url, backend=url)
    try:
        deadline = time.monotonic() + timeout
        pings = ping_agents(app, set(agents), timeout)
        found: set[str] = set()
        if remote_control:
            destination = sorted(workers) or None
            inspect = app.control.inspect(timeout=timeout, destination=destination)
            replies = inspect.active_queues() or {}
            found = {q["name"] for queues in replies.values() for q in queues}
        return found | answered(pings, deadline)
    finally:
        if broker_url is not None:
            app.close()


def ping_agents(app, queues: set[str], timeout: float) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A ping to the agent of each of ``queues``, unanswered yet: queue -> its result."""
    from injector.protocol import AgentTask, PingRequest, task_id_for

    return {
        queue: app.send_task(
            AgentTask.PING,
            args=[PingRequest().to_json()],
            queue=queue,
            expires=timeout,
            task_id=task_id_for(queue),
        )
        for queue in sorted(queues)
    }


def answered(pings: dict[str, Any], deadline: float, poll: float = 0.02) -> set[str]:
    """Of the queues pinged, those whose agent answered by ``deadline`` (time.monotonic).

    Each result is looked up, not waited on: ``AsyncResult.get`` on the Redis backend waits in
    steps of a whole second whatever its timeout, so an agent that is not there cost a second
    of every question.
    """
    found: set[str] = set()
    pending = dict(pings)
    try:
        while pending:
            for queue, result in list(pending.items()):
                try:
                    if not result.ready():
                        continue
                    reply = result.result
                except Exception:  # the broker went away: not known to be served
                    reply = None
                del pending[queue]
                if isinstance(reply, dict) and "refused" not in reply:
                    found.add(queue)
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(poll)
    finally:
        for result in pings.values():
            with contextlib.suppress(Exception):
                result.forget()
    return found


# How long the question asked ahead waits for answers. An agent that is up answers a ping in a
# few milliseconds; with none running, the whole wait is spent, and at a second it outlasted
# Django's start by 0.46 s that `drillhall run` spent waiting before it could start agents
# (cProfile of bench/cli_vs_ctk.py's drill). An agent of this machine that is slower to answer
# is not started twice: the pool sees its supervisor's lock (injector.supervisor.running_here).
AHEAD_TIMEOUT_S = 0.5


class AskedAhead:
    """Which of the ``agents`` queues are served, and which queues the orchestrator workers
    serve, asked in a thread while this process starts Django.

    With no worker running, the question waits its whole timeout (nobody answers), and
    `drillhall run` could only start the agents after it. Asked as soon as the playbook
    names its hosts, its wait passes while Django starts; the pool uses the answer when it
    covers what the pool would ask, else it asks itself. Any failure (settings that do not
    load, a broker away) leaves no answer, and the pool asks as before.
    """

    def __init__(self, agents: set[str], timeout: float = AHEAD_TIMEOUT_S) -> None:
        self.agents = set(agents)
        self._answer: set[str] | None = None
        self._thread = threading.Thread(
            target=self._ask, args=(sorted(agents), timeout), name="asked-ahead", daemon=True
        )
        self._thread.start()

    def _ask(self, agents: list[str], timeout: float) -> None:
        try:
            self._answer = active_queues(timeout=timeout, agents=agents)
        except Exception:  # the pool asks again, and says what is wrong
            self._answer = None

    def answer(self, wait: float = 5.0) -> set[str] | None:
        self._thread.join(wait)
        return None if self._thread.is_alive() else self._answer


def node_name(name: str) -> str:
    """The node name Celery gives a worker started with ``-n name@%h``."""
    return f"{name}@{socket.gethostname()}"


def web_argv(port: int) -> list[str]:
    """The ASGI server (HTTP and websockets) on loopback."""
    return [
        sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
        "drillhall.asgi:application",
    ]  # fmt: skip


def orchestrator_argv(name: str) -> list[str]:
    """An orchestrator worker: one thread per run it drives (a run mostly waits), so several
    `drillhall run` and web runs proceed side by side."""
    from django.conf import settings

    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "drillhall",
        "worker",
        "-Q",
        f"{settings.DRILLHALL_ORCHESTRATOR_QUEUE},{settings.DRILLHALL_REGISTER_QUEUE}",
        "-P",
        "threads",
        "-c",
        str(settings.DRILLHALL_ORCHESTRATOR_CONCURRENCY),
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "-l",
        "INFO",
    ]


def beat_argv() -> list[str]:
    """Celery beat with the database scheduler (CELERY_BEAT_SCHEDULER): it sends the game-day
    clock's tick; exactly one may run per deployment."""
    return [sys.executable, "-m", "celery", "-A", "drillhall", "beat", "-l", "INFO"]


def agent_argv(host: str, netns: str, redis_url: str | None = None) -> list[str]:
    """An agent of this machine (the lab's, `drillhall run`'s, the demo's): its key and its
    Redis user are made here if the host has none yet, as enrolment would, and the key handed
    to it. A lab host's (one with
    a namespace) runs the way it would on a machine of its own: the whole agent inside the
    namespace (nsenter enters the network namespace only, so the FUSE layers of its IO faults
    still reach the services), reaching Redis (``redis_url``'s, default this process's) at the
    lab bridge's address as its own Redis user."""
    from django.conf import settings

    from injector.signing import ensure_agent_key

    key = ensure_agent_key(settings.DRILLHALL_CREDENTIALS_DIR, host)
    ensure_agent_user(host, redis_url or settings.REDIS_URL)
    argv = [sys.executable, "-m", "injector.supervisor", "--host", host, "--key-file", str(key)]
    if not netns:
        return argv
    if not valid_netns_name(netns):
        raise ValueError(f"invalid network namespace name {netns!r}")
    from drills.lab.broker import lab_broker_url
    from drills.lab.topology import DEFAULT_TOPOLOGY
    from injector.credentials import without_credentials

    broker = lab_broker_url(
        without_credentials(redis_url or settings.REDIS_URL), DEFAULT_TOPOLOGY.bridge_address
    )
    enter = ["nsenter", f"--net={NETNS_DIR}/{netns}", "--"]
    return [*enter, *argv, "--netns", netns, "--redis-url", broker]


def ensure_agent_user(host: str, redis_url: str) -> bool:
    """The Redis user of an agent this machine starts, made as enrolment makes it; True when
    it is there. Only where this machine may make users (the admin password of `make setup`,
    root's) and Redis has users: a Redis without them lets the agent in without one."""
    import redis
    from django.conf import settings

    from injector.credentials import (
        ADMIN_USER,
        admin_redis_url,
        password_file,
        without_credentials,
    )
    from injector.redis_acl import ensure_agent

    directory = Path(settings.DRILLHALL_CREDENTIALS_DIR)
    if not password_file(directory, ADMIN_USER).is_file():
        return False
    url = admin_redis_url(without_credentials(redis_url), directory)
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()  # as admin: a Redis without users (or not up yet) refuses it here
    except redis.RedisError:
        client.close()
        return False
    try:
        ensure_agent(client, directory, host)
    finally:
        client.close()
    return True


def worker_pool(var_dir: Path, log_name: str) -> WorkerPool:
    """The pool `drillhall run` shares its workers through, for this checkout (var/run)."""
    from django.conf import settings

    return WorkerPool(
        directory=var_dir / "run",
        log_dir=var_dir / "logs" / log_name,
        active_queues=active_queues,
        orchestrator_argv=orchestrator_argv,
        node_name=node_name,
        agent_argv=agent_argv,
        orchestrator_queue=settings.DRILLHALL_ORCHESTRATOR_QUEUE,
        agent_running_here=agent_running_here,
    )


def agent_running_here(host: str) -> bool:
    """Whether the agent of ``host`` that the pool would start (with this environment's
    state directory) runs on this machine already."""
    from injector.supervisor import default_state_dir, running_here

    return running_here(default_state_dir(host))
