"""The agents of a playbook's lab hosts, started while `drillhall run` is still starting.

`drillhall run` spends about two seconds on its imports and Django before the database says
which agents the run needs, and a fresh agent needs about a second more to answer. A lab
host's network namespace is known from the lab's topology alone, so the agents of the lab
hosts a playbook file names are started at once, in a thread, and start on the other core
while this process starts. Once Django is ready the database has the last word: an agent it
does not confirm (the host is registered elsewhere, or with another namespace) is stopped
before the run is created.

An agent is started early only for a lab host whose namespace exists, that no process of this
machine already serves or supervises (a worker consuming its queue, a supervisor for it), and
that the pool has no agent for. Anything that goes wrong leaves it to the pool as before.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from injector.commands import NETNS_DIR
from injector.protocol import agent_queue

if TYPE_CHECKING:
    from drills.cli.worker_pool import WorkerPool

Say = Callable[[str], None]


def local_agent_hosts(proc: Path = Path("/proc")) -> set[str]:
    """Hosts some process of this machine is the agent of: a worker consuming ``agent.HOST``
    (``-Q``), or an agent's supervisor (``--host HOST``) whose worker may be starting."""
    hosts: set[str] = set()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        hosts |= _agent_hosts_in(argv)
    return hosts


def _agent_hosts_in(argv: list[str]) -> set[str]:
    hosts: set[str] = set()
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag == "-Q":
            hosts |= {q.removeprefix("agent.") for q in value.split(",") if q.startswith("agent.")}
        elif flag == "--host" and any(a.endswith("supervisor") or a == "agent" for a in argv):
            hosts.add(value)
    return hosts


class EarlyAgents:
    """Starts, in a thread, the agents of ``hosts`` that are lab hosts; ``confirm`` checks
    them against what the database says once Django is ready. What it says is held until the
    run goes ahead (``join``): a playbook refused meanwhile prints only why."""

    def __init__(
        self,
        hosts: Iterable[str],
        pool: Callable[[], WorkerPool],
        say: Say,
        lab_hosts: Callable[[], dict[str, str]],
        netns_dir: str = NETNS_DIR,
        running: Callable[[], set[str]] = local_agent_hosts,
    ) -> None:
        self.hosts = set(hosts)
        self.say = say
        self._held: list[str] = []
        self._make_pool = pool
        self._lab_hosts = lab_hosts
        self._netns_dir = netns_dir
        self._running = running
        self.pool: WorkerPool | None = None
        self.started: dict[str, str] = {}  # host -> the namespace it was started in
        self._spawned = threading.Event()  # set once it started them, or gave up
        self._thread = threading.Thread(target=self._run, name="early-agents", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            wanted = self._wanted()
            if not wanted:
                return
            self.pool = self._make_pool()
            self.pool.hold()
            self.started = self.pool.start_agents(wanted, self._held.append)
        except Exception:  # the pool starts them after Django, and says what is wrong
            self.started = {}
        finally:
            self._spawned.set()

    def _wanted(self) -> dict[str, str]:
        lab = self._lab_hosts()
        wanted = {
            host: lab[host]
            for host in sorted(self.hosts)
            if host in lab and os.path.exists(os.path.join(self._netns_dir, lab[host]))
        }
        if not wanted:
            return {}
        running = self._running()
        return {h: ns for h, ns in wanted.items() if h not in running}

    def spawned(self, wait: float) -> None:
        """Wait until the agents are spawned (or it gave up). This process's own start is
        CPU-bound on the interpreter's one lock: the agents, whose start is the longer, go
        first, and then start on the other core while this process goes on."""
        self._spawned.wait(wait)

    def join(self, wait: float = 10.0) -> None:
        """Wait for the thread; what it said is said now."""
        self._thread.join(wait)
        held, self._held = self._held, []
        for line in held:
            self.say(line)

    def confirm(self, expected: dict[str, str]) -> None:
        """Stop what was started early that ``expected`` (host -> namespace, the database's
        word) does not name with the same namespace."""
        self.join()
        wrong = {agent_queue(h) for h, ns in self.started.items() if expected.get(h) != ns}
        if wrong and self.pool is not None:
            self.pool.stop_workers(wrong, self.say)
        self.started = {h: ns for h, ns in self.started.items() if agent_queue(h) not in wrong}

    def leave(self) -> None:
        """For a run that ends before it takes the pool over (an invalid playbook, a refusal):
        let go of the pool, which stops what was started early, quietly (nothing of it was
        said)."""
        self._thread.join(10.0)
        self._held = []
        if self.pool is not None:
            with contextlib.suppress(Exception):
                self.pool.leave(lambda line: None)
