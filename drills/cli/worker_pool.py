"""The workers (and the lab) that `drillhall run` starts, shared by every `drillhall run` at once.

Two pipelines on one machine is an ordinary thing to do, so what a run starts is not its own:
it is the pool's. The pool's state is one JSON file under an flock (``var/run/``): the workers
it started (name, queue, pid and the process's start time, so a reused pid is not mistaken for
it), whether it brought the lab up, and its holders (the pids of the `drillhall run` processes
using it). A run *holds* the pool, starts what is missing, and *leaves* (the last to leave
stops the pool's workers and takes down a lab the pool brought up).

Workers the pool did not start (`make demo`'s, a systemd unit's) are used but never stopped.
A holder that died without leaving (SIGKILL) is pruned by the next run that joins or leaves, and
a pool worker that died is started again by the next run that needs it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from drills.cli.process_group import start_logged
from injector.protocol import agent_queue

if TYPE_CHECKING:
    from drills.cli.workers import AskedAhead

Say = Callable[[str], None]
STOP_TIMEOUT_S = 15.0
# How long each question waits while the pool's own workers start: a worker that is up answers
# in milliseconds, and one that is not yet listening misses the question, so ask often.
STARTING_QUESTION_S = 0.3


def process_start(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    if fields[0] == "Z":
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)  # ours to reap, if we started it
        return None
    return int(fields[19])


@dataclass
class PoolWorker:
    name: str
    queue: str
    pid: int
    started: int  # process_start(pid) when it was started
    log: str
    node: str = ""  # a Celery node name to ask for by name (the orchestrator's)

    def alive(self) -> bool:
        return process_start(self.pid) == self.started


@dataclass
class PoolState:
    workers: list[PoolWorker] = field(default_factory=list)
    holders: dict[str, int] = field(default_factory=dict)  # pid -> its process start time
    lab: bool = False  # the pool brought the lab up, so the last holder takes it down

    @classmethod
    def load(cls, path: Path) -> PoolState:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls()
        return cls(
            [PoolWorker(**w) for w in data.get("workers", [])],
            {str(k): int(v) for k, v in data.get("holders", {}).items()},
            bool(data.get("lab", False)),
        )

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)

    def prune(self) -> None:
        self.holders = {
            pid: start for pid, start in self.holders.items() if process_start(int(pid)) == start
        }
        self.workers = [w for w in self.workers if w.alive()]


@dataclass
class WorkerPool:
    directory: Path
    log_dir: Path
    # The queues served now, of the orchestrator's and of the agent queues given (asked).
    active_queues: Callable[..., set[str]]
    orchestrator_argv: Callable[[str], list[str]]
    agent_argv: Callable[[str, str], list[str]]
    orchestrator_queue: str = "orchestrator"
    node_name: Callable[[str], str] = lambda name: ""
    # Whether an agent of the host runs on this machine already (its supervisor's lock): one
    # that was too busy to answer the question is waited for, never started twice.
    agent_running_here: Callable[[str], bool] = lambda host: False
    me: int = field(default_factory=os.getpid)

    @property
    def state_file(self) -> Path:
        return self.directory / "workers.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[PoolState]:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / "workers.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = PoolState.load(self.state_file)
            state.prune()
            yield state
            state.save(self.state_file)
        finally:
            os.close(fd)  # closing releases the flock

    def hold(self) -> None:
        """Become a holder: nothing the pool started stops while this process holds it."""
        with self.locked() as state:
            state.holders[str(self.me)] = process_start(self.me) or 0

    def ensure_lab(self, lab_up: Callable[[], bool]) -> None:
        """Bring the lab up unless it is there (``lab_up`` says whether it did), one run at
        a time; a lab the pool brought up is taken down by the last holder."""
        with self.locked() as state:
            if lab_up():
                state.lab = True

    def ensure_workers(
        self,
        agents: dict[str, str],
        say: Say,
        optional: dict[str, str] | None = None,
        timeout: float = 30.0,
        orchestrator: bool = True,
        ahead: AskedAhead | None = None,
    ) -> bool:
        """Start what is missing: an orchestrator (unless ``orchestrator`` is False), and an
        agent per host. ``agents`` maps host to its network namespace; ``optional`` agents
        (hosts that only carry kernel collectors) are started but not waited for: one that
        cannot start costs the run that host's evidence, which the run then reports, instead
        of stopping it. True when an orchestrator serves its queue (one is asked for in the
        same question as the agents, so knowing costs nothing more). ``ahead`` is that
        question asked earlier (drills.cli.workers.AskedAhead), used when it covers it."""
        optional = {h: ns for h, ns in (optional or {}).items() if h not in agents}
        namespaces = {**agents, **optional}
        with self.locked() as state:
            wanted = {agent_queue(h): h for h in namespaces}
            if orchestrator:
                wanted[self.orchestrator_queue] = ""
            mine_alive = {w.queue for w in state.workers}
            asked = set(wanted) | {self.orchestrator_queue}
            covered = ahead is not None and asked <= ahead.agents | {self.orchestrator_queue}
            early = ahead.answer() if ahead is not None and covered else None
            answering = early & asked if early is not None else self._queues(asked)
            served = mine_alive | answering
            orchestrating = orchestrator or self.orchestrator_queue in served
            for queue, host in sorted(wanted.items()):
                if queue in served:
                    continue
                if host and self.agent_running_here(host):
                    say(f"workers: the agent of {host} runs here but has not answered yet; "
                        "waiting for it")  # fmt: skip
                    continue
                if host:
                    name, argv, node = f"agent-{host}", self.agent_argv(host, namespaces[host]), ""
                else:
                    name = "orchestrator"
                    node_base = f"orchestrator-{time.time_ns()}"
                    argv, node = self.orchestrator_argv(node_base), self.node_name(node_base)
                state.workers.append(self._start(name, queue, argv, node))
                say(f"workers: started {name}, shared by every `drillhall run` until the last ends")
            if wanted and served >= set(wanted):
                say("workers: already running")
            if answering >= set(wanted):
                return orchestrating  # every one just answered: no need to ask again
            mine = {w.queue: w for w in state.workers}
        # Wait for what is not there yet, asking for the pool's own orchestrator by name: the
        # question ends as soon as it answers.
        waiting = ({self.orchestrator_queue} if orchestrator else set()) | {
            agent_queue(h) for h in agents
        }
        waiting -= answering
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [w for q, w in mine.items() if q in waiting and not w.alive()]
            if dead:
                tail = Path(dead[0].log).read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{dead[0].name} exited at start; its log ends:\n{tail}")
            nodes = [w.node for q, w in mine.items() if q in waiting and w.node]
            waiting -= self._queues(waiting, timeout=STARTING_QUESTION_S, workers=nodes)
            if not waiting:
                return orchestrating
        raise RuntimeError(f"workers did not come up in {timeout:g}s (logs in {self.log_dir})")

    def leave(self, say: Say, lab_down: Callable[[], None] | None = None) -> None:
        """Let go; the last holder stops the pool's workers (agents revert on SIGTERM) and
        takes down a lab the pool brought up."""
        with self.locked() as state:
            state.holders.pop(str(self.me), None)
            if state.holders:
                if state.workers:
                    say(f"workers: left running for {len(state.holders)} other run(s)")
                return
            for worker in state.workers:
                if worker.alive():  # the process only: an agent's supervisor stops its worker
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(worker.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            for worker in state.workers:
                while worker.alive() and time.monotonic() < deadline:
                    time.sleep(0.02)  # an idle agent stops in a few tenths of a second
                if worker.alive():
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(worker.pid, signal.SIGKILL)
            if state.workers:
                say(f"workers: stopped {', '.join(w.name for w in state.workers)}")
            state.workers = []
            if state.lab and lab_down is not None:
                lab_down()
            state.lab = False

    def _queues(
        self, asked: set[str], patience: float = 15.0, timeout: float = 1.0,
        workers: list[str] | None = None,
    ) -> set[str]:  # fmt: skip
        """The queues some worker consumes (agents' among ``asked``); a broker that is away
        for a moment is asked again, one that stays away is said so. ``workers`` names the
        orchestrator workers to ask (all of them when None)."""
        agents = sorted(q for q in asked if q != self.orchestrator_queue)
        deadline = time.monotonic() + patience
        while True:
            try:
                return self.active_queues(
                    agents=agents,
                    timeout=timeout,
                    workers=workers or [],
                    remote_control=self.orchestrator_queue in asked,
                )
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the task broker does not answer ({exc}); is Redis running? "
                        "(`drillhall doctor` checks)"
                    ) from None
                time.sleep(0.5)

    def _start(self, name: str, queue: str, argv: list[str], node: str = "") -> PoolWorker:
        log = self.log_dir / f"{name}.log"
        proc = start_logged(argv, log)
        return PoolWorker(name, queue, proc.pid, process_start(proc.pid) or 0, str(log), node)
