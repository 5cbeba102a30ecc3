"""Finding running workers and agents, and starting the missing ones."""

from __future__ import annotations

import sys
import time

from drills.cli.process_group import ProcessGroup
from injector.protocol import agent_queue


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
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "drillhall",
        "worker",
        "-Q",
        "orchestrator",
        "-P",
        "threads",
        "-c",
        "4",
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "-l",
        "INFO",
    ]


def agent_argv(host: str, netns: str) -> list[str]:
    argv = [sys.executable, "-m", "injector.supervisor", "--host", host]
    if netns:
        argv += ["--netns", netns]
    return argv


def ensure_workers(
    group: ProcessGroup,
    agents: dict[str, str],
    say,
    timeout: float = 30.0,  # type: ignore[no-untyped-def]
    optional: dict[str, str] | None = None,
) -> None:
    """Start an orchestrator worker and an agent per host unless one consumes its queue.

    agents maps host name to its network namespace ("" for none). ``optional`` agents (hosts
    that only carry kernel collectors) are started too, but not waited for: one that cannot
    start (say another agent already serves that host from elsewhere) leaves the run without
    that host's evidence, which the run then reports, instead of stopping it.
    """
    optional = {h: ns for h, ns in (optional or {}).items() if h not in agents}
    wanted = {"orchestrator"} | {agent_queue(h) for h in agents}
    present = active_queues()
    missing = (wanted | {agent_queue(h) for h in optional}) - present
    if not missing:
        say("workers: already running")
        return
    if "orchestrator" in missing:
        group.start("orchestrator", orchestrator_argv(f"orchestrator-{time.time_ns()}"))
        say("workers: started an orchestrator worker for this run")
    for host, netns in sorted({**agents, **optional}.items()):
        if agent_queue(host) in missing:
            group.start(f"agent-{host}", agent_argv(host, netns))
            say(f"workers: started the agent for host {host}")
    optional_names = {f"agent-{h}" for h in optional}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p for p in group.dead() if p.name not in optional_names]
        if dead:
            tail = dead[0].log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{dead[0].name} exited at start; its log ends:\n{tail}")
        if wanted <= active_queues(timeout=0.5):
            return
        time.sleep(0.3)
    raise RuntimeError(f"workers did not come up in {timeout:g}s (logs in {group.log_dir})")
