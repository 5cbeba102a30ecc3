"""Finding running workers and agents, and starting the missing ones."""

from __future__ import annotations

import sys
from pathlib import Path

from drills.cli.worker_pool import WorkerPool


def active_queues(timeout: float = 1.0, broker_url: str | None = None) -> set[str]:
    """Queues some worker consumes now: the Django app's broker, or broker_url's."""
    from celery import Celery

    if broker_url is None:
        from drillhall.celery import app
    else:
        app = Celery(broker=broker_url)
    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    return {q["name"] for queues in replies.values() for q in queues}


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
        settings.DRILLHALL_ORCHESTRATOR_QUEUE,
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


def agent_argv(host: str, netns: str) -> list[str]:
    """An agent of this machine (the lab's, `drillhall run`'s, the demo's): its key is made
    here if the host has none yet, as enrolment would, and handed to it."""
    from django.conf import settings

    from injector.signing import ensure_agent_key

    key = ensure_agent_key(settings.DRILLHALL_CREDENTIALS_DIR, host)
    argv = [sys.executable, "-m", "injector.supervisor", "--host", host, "--key-file", str(key)]
    if netns:
        argv += ["--netns", netns]
    return argv


def worker_pool(var_dir: Path, log_name: str) -> WorkerPool:
    """The pool `drillhall run` shares its workers through, for this checkout (var/run)."""
    from django.conf import settings

    return WorkerPool(
        directory=var_dir / "run",
        log_dir=var_dir / "logs" / log_name,
        active_queues=active_queues,
        orchestrator_argv=orchestrator_argv,
        agent_argv=agent_argv,
        orchestrator_queue=settings.DRILLHALL_ORCHESTRATOR_QUEUE,
    )
