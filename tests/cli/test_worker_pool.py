"""drills.cli.worker_pool.WorkerPool.ensure_workers with its process starts and broker
questions replaced: what it starts and how often it asks the broker (each question costs a
second of remote-control broadcast before a run can be created)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drills.cli import worker_pool
from drills.cli.worker_pool import PoolWorker, WorkerPool


class Broker:
    """Answers which queues are served; a started worker answers from the next question on."""

    def __init__(self, served: set[str]) -> None:
        self.served = set(served)
        self.asked: list[list[str]] = []
        self.questions: list[dict[str, Any]] = []

    def active_queues(self, agents: Any = (), **question: Any) -> set[str]:
        self.asked.append(list(agents))
        self.questions.append(question)
        return set(self.served)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []

    def fake_start(
        self: WorkerPool, name: str, queue: str, argv: list[str], node: str = ""
    ) -> PoolWorker:
        names.append(name)
        self.active_queues.__self__.served.add(queue)  # type: ignore[attr-defined]
        return PoolWorker(name, queue, 0, 0, "", node)

    monkeypatch.setattr(WorkerPool, "_start", fake_start)
    monkeypatch.setattr(PoolWorker, "alive", lambda self: True)
    monkeypatch.setattr(worker_pool.time, "sleep", lambda s: None)
    return names


def pool(tmp_path: Path, broker: Broker) -> WorkerPool:
    return WorkerPool(
        directory=tmp_path / "run",
        log_dir=tmp_path / "logs",
        active_queues=broker.active_queues,
        orchestrator_argv=lambda name: ["orchestrator", name],
        agent_argv=lambda host, ns: ["agent", host, ns],
        node_name=lambda name: f"{name}@here",
    )


def test_workers_that_all_answer_are_asked_about_once(tmp_path: Path, started: list[str]) -> None:
    broker = Broker({"orchestrator", "agent.db1", "agent.web"})
    said: list[str] = []
    pool(tmp_path, broker).ensure_workers({"db1": "dh-db1"}, said.append, {"web": "dh-web"})
    assert started == [] and said == ["workers: already running"]
    assert len(broker.asked) == 1


def test_a_missing_agent_is_started_and_waited_for(tmp_path: Path, started: list[str]) -> None:
    broker = Broker({"orchestrator"})
    said: list[str] = []
    pool(tmp_path, broker).ensure_workers({"db1": "dh-db1"}, said.append)
    assert started == ["agent-db1"]
    assert len(broker.asked) == 2  # once to see what is missing, once to see it answer


def test_the_pool_waits_for_its_own_orchestrator_by_name(
    tmp_path: Path, started: list[str]
) -> None:
    # Asked by name, a worker that is up ends the question at once; a broadcast to whoever
    # listens would wait out its whole timeout every time.
    broker = Broker({"agent.db1"})
    pool(tmp_path, broker).ensure_workers({"db1": "dh-db1"}, lambda line: None)
    assert started == ["orchestrator"]
    first, then = broker.questions
    assert first["workers"] == [] and first["remote_control"]
    (node,) = then["workers"]
    assert node.startswith("orchestrator-") and node.endswith("@here")
    assert broker.asked[1] == []  # the agent had answered: it is not asked again


def test_agents_alone_are_waited_for_without_a_broadcast(
    tmp_path: Path, started: list[str]
) -> None:
    broker = Broker({"orchestrator"})
    pool(tmp_path, broker).ensure_workers({"db1": "dh-db1"}, lambda line: None)
    assert started == ["agent-db1"]
    assert [q["remote_control"] for q in broker.questions] == [True, False]


def test_without_an_orchestrator_wanted_none_is_started_and_the_answer_says_none_serves(
    tmp_path: Path, started: list[str]
) -> None:
    # `drillhall run` drives its run itself when no orchestrator worker is there
    # (drills/cli/drive_here.py): the same question says so, and only the agent is started.
    broker = Broker(set())
    serves = pool(tmp_path, broker).ensure_workers({"db1": "dh-db1"}, lambda line: None,
                                                   orchestrator=False)  # fmt: skip
    assert started == ["agent-db1"] and serves is False
    assert broker.questions[0]["remote_control"] and len(broker.questions) == 2


def test_a_running_orchestrator_is_said_to_serve_when_none_is_wanted(
    tmp_path: Path, started: list[str]
) -> None:
    broker = Broker({"orchestrator", "agent.db1"})
    serves = pool(tmp_path, broker).ensure_workers({"db1": "dh-db1"}, lambda line: None,
                                                   orchestrator=False)  # fmt: skip
    assert started == [] and serves is True and len(broker.questions) == 1


class Ahead:
    """drills.cli.workers.AskedAhead with its answer given."""

    def __init__(self, agents: set[str], answer: set[str] | None) -> None:
        self.agents, self._answer = agents, answer

    def answer(self) -> set[str] | None:
        return self._answer


def test_a_question_asked_ahead_that_covers_the_agents_is_not_asked_again(
    tmp_path: Path, started: list[str]
) -> None:
    broker = Broker(set())
    ahead = Ahead({"agent.db1", "agent.web"}, {"agent.web"})
    serves = pool(tmp_path, broker).ensure_workers({"db1": "dh-db1"}, lambda line: None,
                                                   orchestrator=False, ahead=ahead)  # fmt: skip
    assert started == ["agent-db1"] and serves is False
    assert broker.asked == [["agent.db1"]]  # only while the started agent comes up


def test_a_question_asked_ahead_without_an_answer_or_about_other_hosts_is_asked_again(
    tmp_path: Path, started: list[str]
) -> None:
    for ahead in (Ahead({"agent.db1"}, None), Ahead({"agent.web"}, set())):
        broker = Broker({"agent.db1", "orchestrator"})
        serves = pool(tmp_path, broker).ensure_workers({"db1": "dh-db1"}, lambda line: None,
                                                       orchestrator=False, ahead=ahead)  # fmt: skip
        assert serves is True and len(broker.asked) == 1
    assert started == []


class SlowBroker(Broker):
    """``late`` queues answer only from the second question on."""

    def __init__(self, served: set[str], late: set[str]) -> None:
        super().__init__(served)
        self.late = late

    def active_queues(self, agents: Any = (), **question: Any) -> set[str]:
        answer = super().active_queues(agents, **question)
        return answer | self.late if len(self.asked) > 1 else answer


def test_an_agent_running_here_that_did_not_answer_is_waited_for_not_started_again(
    tmp_path: Path, started: list[str]
) -> None:
    # Too busy to answer the first question in time (its supervisor holds its lock): a second
    # agent of the same host would fight it over the ledger, so the pool waits for this one.
    broker = SlowBroker(set(), {"agent.db1"})
    said: list[str] = []
    workers = pool(tmp_path, broker)
    workers.agent_running_here = lambda host: host == "db1"
    workers.ensure_workers({"db1": "dh-db1", "web": "dh-web"}, said.append, orchestrator=False)
    assert started == ["agent-web"]
    assert said[0] == "workers: the agent of db1 runs here but has not answered yet; waiting for it"
    assert len(broker.asked) == 2  # and it was waited for until it answered
