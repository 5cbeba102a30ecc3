"""drills.cli.early_agents: which agents `drillhall run` starts before Django is ready, and
what it does when the database then says otherwise. The pool's process starts are replaced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drills.cli import worker_pool
from drills.cli.early_agents import EarlyAgents, _agent_hosts_in
from drills.cli.worker_pool import PoolWorker, WorkerPool

LAB = {"db1": "dh-db1", "db2": "dh-db2", "web": "dh-web"}


class Processes:
    """The pool's process starts and stops, recorded instead of made."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.stopped: list[str] = []


@pytest.fixture
def processes(monkeypatch: pytest.MonkeyPatch) -> Processes:
    seen = Processes()

    def fake_start(
        self: WorkerPool, name: str, queue: str, argv: list[str], node: str = ""
    ) -> PoolWorker:
        seen.started.append(" ".join(argv))
        return PoolWorker(name, queue, 0, 0, "", node)

    def fake_stop(self: WorkerPool, workers: list[PoolWorker]) -> None:
        seen.stopped.extend(w.name for w in workers)

    monkeypatch.setattr(WorkerPool, "_start", fake_start)
    monkeypatch.setattr(WorkerPool, "_stop", fake_stop)
    monkeypatch.setattr(PoolWorker, "alive", lambda self: True)
    monkeypatch.setattr(worker_pool.time, "sleep", lambda s: None)
    return seen


def make_pool(tmp_path: Path) -> WorkerPool:
    def nobody(*_: Any, **__: Any) -> set[str]:
        return set()

    return WorkerPool(
        directory=tmp_path / "run",
        log_dir=tmp_path / "logs",
        active_queues=nobody,
        orchestrator_argv=lambda name: ["orchestrator", name],
        agent_argv=lambda host, ns: ["agent", host, ns],
    )


def namespaces(tmp_path: Path, *names: str) -> str:
    directory = tmp_path / "netns"
    directory.mkdir()
    for name in names:
        (directory / name).touch()
    return str(directory)


def early(tmp_path: Path, hosts: set[str], netns_dir: str, running: set[str] = frozenset()):  # type: ignore[no-untyped-def,assignment]
    said: list[str] = []
    agents = EarlyAgents(
        hosts,
        lambda: make_pool(tmp_path),
        said.append,
        lambda: dict(LAB),
        netns_dir=netns_dir,
        running=lambda: set(running),
    )
    agents.join()
    return agents, said


def test_the_agents_of_the_lab_hosts_named_start_at_once(
    tmp_path: Path, processes: Processes
) -> None:
    ns = namespaces(tmp_path, "dh-db1", "dh-web")
    agents, said = early(tmp_path, {"db1", "web", "billing"}, ns)
    assert processes.started == ["agent db1 dh-db1", "agent web dh-web"]
    assert agents.started == {"db1": "dh-db1", "web": "dh-web"}
    assert said == [
        "workers: started agent-db1, shared by every `drillhall run` until the last ends",
        "workers: started agent-web, shared by every `drillhall run` until the last ends",
    ]


def test_nothing_starts_without_the_lab_s_namespace_or_when_an_agent_already_runs(
    tmp_path: Path, processes: Processes
) -> None:
    ns = namespaces(tmp_path, "dh-web")  # db1's namespace is not there: no lab, or half of one
    agents, _ = early(tmp_path, {"db1", "web"}, ns, running={"web"})
    assert processes.started == [] and agents.started == {} and agents.pool is None


def test_an_agent_the_database_places_elsewhere_is_stopped(
    tmp_path: Path, processes: Processes
) -> None:
    ns = namespaces(tmp_path, "dh-db1", "dh-web")
    agents, said = early(tmp_path, {"db1", "web"}, ns)
    # This database knows db1 as a machine of its own (no namespace): its agent runs there.
    agents.confirm({"web": "dh-web"})
    assert processes.stopped == ["agent-db1"]
    assert agents.started == {"web": "dh-web"}
    assert said[-1] == "workers: stopped agent-db1"


def test_a_run_that_ends_before_it_starts_lets_go_of_what_started_early(
    tmp_path: Path, processes: Processes
) -> None:
    ns = namespaces(tmp_path, "dh-db1")
    said: list[str] = []
    agents = EarlyAgents(
        {"db1"},
        lambda: make_pool(tmp_path),
        said.append,
        lambda: dict(LAB),
        netns_dir=ns,
        running=set,
    )
    agents.leave()
    assert processes.stopped == ["agent-db1"]
    assert said == []  # an invalid playbook prints why, not the agents it started and stopped


@pytest.mark.parametrize(
    ("argv", "hosts"),
    [
        (["python", "-m", "celery", "-A", "injector.agent", "worker", "-Q", "agent.db1"], {"db1"}),
        (["python", "-m", "injector.supervisor", "--host", "web", "--netns", "dh-web"], {"web"}),
        (["/usr/bin/drillhall", "agent", "--host", "db2"], {"db2"}),
        (["celery", "worker", "-Q", "orchestrator,registrations"], set()),
        (["some-tool", "--host", "db1"], set()),
    ],
)
def test_what_makes_a_process_an_agent_of_a_host(argv: list[str], hosts: set[str]) -> None:
    assert _agent_hosts_in(argv) == hosts
