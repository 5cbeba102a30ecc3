"""The orchestrator and the agent agree on injector.protocol, and nothing else defines it.

The driver's messages go through the agent's real Celery tasks (run in-process, eagerly) and
the agent's replies come back through the driver's decoding; kernel samples go through a real
Redis list from the agent's evidence session to the orchestrator's feed. A source scan proves
that no task name, queue name or Redis key of the boundary is written anywhere but the protocol.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from drills.engine.driver import AgentRefused
from drills.web import agents as web_agents
from ebpf.collector import KernelSample, Scope, Source
from injector import agent as agent_app
from injector import evidence
from injector.host import HostAgent
from injector.ledger import Ledger
from injector.protocol import (
    REGISTER_HOST_TASK,
    AgentTask,
    CollectRequest,
    EvidenceBeat,
    FaultSpec,
    FaultState,
    HaltReply,
    HaltRequest,
    KernelSampleMessage,
    ProtocolError,
    ReleaseReply,
    ReleaseRequest,
    agent_queue,
    new_run_key,
)
from tests.injector.fakes import FakeFault, FakeSystem

ROOT = Path(__file__).resolve().parents[2]
HOST = "db1"


def test_the_agent_serves_exactly_the_protocols_tasks() -> None:
    # By module: shared_task registrations of the web app reach every app in a process that
    # imports both (tests do; an agent process never imports drills).
    served = {n for n, task in agent_app.app.tasks.items() if task.__module__ == agent_app.__name__}
    assert served == {task.value for task in AgentTask}


def test_the_orchestrator_serves_the_registration_the_agent_sends() -> None:
    from drillhall.celery import app

    app.loader.import_default_modules()
    assert REGISTER_HOST_TASK in app.tasks


@pytest.fixture
def wired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSystem]:
    """The driver's send_task delivers to the agent's own tasks, in this process."""
    system = FakeSystem()
    host_agent = HostAgent(HOST, None, Ledger(tmp_path / "ledger"), system.factory)
    monkeypatch.setattr(agent_app, "_host_agent", lambda: host_agent)
    sent: list[tuple[str, str]] = []

    def send_task(name: str, args: list[Any], queue: str, **_: Any) -> Any:
        assert queue == agent_queue(HOST)
        sent.append((name, queue))
        return agent_app.app.tasks[name].apply(args=args)

    monkeypatch.setattr(web_agents.app, "send_task", send_task)
    yield system
    assert {name for name, _ in sent} <= {task.value for task in AgentTask}


def spec(run: str, host: str = HOST) -> FaultSpec:
    return FaultSpec(run, 2, 1, FakeFault.kind, {"host": host}, 30)


def test_a_fault_goes_through_apply_renew_and_revert_in_both_sides_words(
    wired: FakeSystem,
) -> None:
    driver = web_agents.CeleryFaultDriver()
    queue = agent_queue(HOST)
    run = new_run_key()
    assert driver.ping(queue, 5).host == HOST

    applied = driver.apply(queue, spec(run), 5)
    assert applied.fault_id == f"r{run}-s2-a1" and applied.state is FaultState.APPLIED
    assert applied.mechanism == "fake" and applied.lease_deadline > time.time()
    assert wired.applied == {applied.fault_id}
    assert driver.ping(queue, 5).active == (applied.fault_id,)

    renewal = driver.renew(queue, applied.fault_id, 30).poll()
    assert renewal is not None and renewal.renewed and renewal.state is FaultState.APPLIED

    reverted = driver.revert(queue, applied.fault_id, 5)
    assert reverted.state is FaultState.REVERTED and wired.applied == set()
    ended = driver.renew(queue, applied.fault_id, 30).poll()
    assert ended is not None and not ended.renewed and ended.state is FaultState.REVERTED
    assert ended.ended_at is not None and ended.detail == "revert requested"


def test_a_refusal_reaches_the_engine_as_the_agents_sentence(wired: FakeSystem) -> None:
    driver = web_agents.CeleryFaultDriver()
    with pytest.raises(AgentRefused) as refused:
        driver.apply(agent_queue(HOST), spec(new_run_key(), host="db2"), 5)
    message = str(refused.value)
    assert "meant for host db2" in message and "(" not in message.split(":")[0]
    assert refused.value.permanent and wired.applied == set()


def test_runs_of_two_databases_never_share_a_fault_id(wired: FakeSystem) -> None:
    # Run 1 of one database and run 1 of the next: their keys differ, so both apply.
    driver = web_agents.CeleryFaultDriver()
    queue = agent_queue(HOST)
    first, second = (driver.apply(queue, spec(new_run_key()), 5) for _ in range(2))
    assert first.fault_id != second.fault_id
    assert wired.applied == {first.fault_id, second.fault_id}


def test_halt_and_release_messages_refuse_what_they_do_not_define() -> None:
    assert HaltRequest.from_json({"since": 1.5, "reason": "r", "by": "max"}) == HaltRequest(
        1.5, "r", "max"
    )
    assert HaltRequest.from_json({"since": None}) == HaltRequest()
    assert ReleaseRequest.from_json({"since": 1.5, "by": "ada"}) == ReleaseRequest(1.5, "ada")
    for bad in ({"since": 1, "extra": 1}, {"since": "soon"}, {"since": 1, "reason": "x" * 201}):
        with pytest.raises(ProtocolError):
            HaltRequest.from_json(bad)
    for bad in ({}, {"since": None}, {"since": float("inf")}, {"since": 1, "what": 2}, []):
        with pytest.raises(ProtocolError):
            ReleaseRequest.from_json(bad)


@pytest.mark.django_db
def test_the_servers_halt_and_release_reach_the_agent_in_its_words(
    wired: FakeSystem, needs_redis: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.contrib.auth.models import User

    from drills.web import halt as web_halt
    from drills.web.models import Host
    from injector.halt import HaltFlag

    settings.REDIS_URL = needs_redis
    flag = HaltFlag.from_url(needs_redis)
    flag.clear()
    flag.forget_release()
    replies: list[object] = []
    deliver = web_agents.app.send_task

    def keep_reply(name: str, args: list[Any], queue: str, **kw: Any) -> Any:
        result = deliver(name, args=args, queue=queue, **kw)
        replies.append(result.get())
        return result

    monkeypatch.setattr(web_agents.app, "send_task", keep_reply)
    Host.objects.create(name=HOST, address="10.77.9.3", agent_queue=agent_queue(HOST))
    try:
        web_halt.halt_all("stop", User.objects.create_user("max"))
        halted = HaltReply.from_json(replies.pop())
        assert halted.host == HOST and not halted.released
        with pytest.raises(AgentRefused, match="halted: stop"):
            web_agents.CeleryFaultDriver().apply(agent_queue(HOST), spec(new_run_key()), 5)
        web_halt.release(User.objects.create_user("ada", is_superuser=True))
        assert ReleaseReply.from_json(replies.pop()) == ReleaseReply(HOST, True, None)
        applied = web_agents.CeleryFaultDriver().apply(agent_queue(HOST), spec(new_run_key()), 5)
        assert applied.state is FaultState.APPLIED
    finally:
        flag.clear()
        flag.forget_release()
        flag.close()


@pytest.mark.django_db
def test_an_admin_release_lifts_a_halt_an_agent_kept_from_a_database_since_replaced(
    wired: FakeSystem, needs_redis: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.contrib.auth.models import User

    from drills.web import halt as web_halt
    from drills.web.models import Host
    from injector.halt import HaltFlag, HaltState

    settings.REDIS_URL = needs_redis
    flag = HaltFlag.from_url(needs_redis)
    flag.clear()
    flag.forget_release()
    kept = agent_app._host_agent().halts.copy
    kept.keep(HaltState("halted under the old database", 1000.0, "max"))
    Host.objects.create(name=HOST, address="10.77.9.3", agent_queue=agent_queue(HOST))
    try:
        with pytest.raises(AgentRefused, match="halted under the old database"):
            web_agents.CeleryFaultDriver().apply(agent_queue(HOST), spec(new_run_key()), 5)
        result = web_halt.release(User.objects.create_user("ada", is_superuser=True))
        assert not result.released and result.queues == [agent_queue(HOST)]
        assert kept.get() is None
        applied = web_agents.CeleryFaultDriver().apply(agent_queue(HOST), spec(new_run_key()), 5)
        assert applied.state is FaultState.APPLIED
    finally:
        flag.clear()
        flag.forget_release()
        flag.close()


class Counting:
    name = "tcp_retransmits"
    source = Source.EBPF

    def __init__(self) -> None:
        self.closed = False

    def attach(self) -> None:
        pass

    def read(self, now: float) -> list[KernelSample]:
        return [KernelSample(now, "tcp_retransmits", 3.0, Source.EBPF, 3, {}, {"dir": "out"})]

    def close(self) -> None:
        self.closed = True


def test_kernel_samples_cross_redis_in_the_protocols_shape(
    needs_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evidence, "open_collector", lambda name, scope: (Counting(), "eBPF"))
    store = redis.Redis.from_url(needs_redis)
    feed = web_agents.RedisEvidenceFeed(needs_redis)
    run = new_run_key()
    feed.open(run, 5)
    sessions = evidence.EvidenceSessions()
    try:
        reply = sessions.start(
            CollectRequest(run, ("tcp_retransmits",), 0.05), HOST, Scope(), store
        )
        assert [(c.name, c.source) for c in reply.collectors] == [("tcp_retransmits", "ebpf")]
        deadline = time.monotonic() + 5
        got: list[KernelSampleMessage | EvidenceBeat] = []
        while time.monotonic() < deadline and not any(isinstance(m, EvidenceBeat) for m in got):
            got += feed.drain(run)
            time.sleep(0.05)
        samples = [m for m in got if isinstance(m, KernelSampleMessage)]
        beats = [m for m in got if isinstance(m, EvidenceBeat)]
        assert beats and beats[0].host == HOST and beats[0].interval == 0.05
        assert samples[0].host == HOST and samples[0].metric == "tcp_retransmits"
        assert samples[0].value == 3.0 and samples[0].labels == {"dir": "out"}
    finally:
        feed.close(run)
        sessions.stop(run)


# -- nobody else spells the boundary out -----------------------------------------------------

PACKAGES = ("drills", "drillhall", "injector", "verifier", "ebpf")
BOUNDARY_PREFIXES = ("drillhall.agent.", "drillhall:evidence", "drillhall:halt")
BOUNDARY_NAMES = {REGISTER_HOST_TASK}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def boundary_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
            if text.startswith(BOUNDARY_PREFIXES) or text in BOUNDARY_NAMES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text!r}")
        elif isinstance(node, ast.JoinedStr) and node.values:
            head = node.values[0]
            # f"agent.{host}": a queue name built by hand instead of protocol.agent_queue.
            if isinstance(head, ast.Constant) and str(head.value) == "agent.":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: f'agent.{{...}}'")
    return found


def test_no_boundary_name_is_written_outside_the_protocol() -> None:
    protocol = ROOT / "injector" / "protocol.py"
    offenders = [
        hit
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != protocol and "migrations" not in path.parts
        for hit in boundary_literals(path)
    ]
    assert offenders == []


def test_the_scan_finds_a_hand_written_task_name(tmp_path: Path) -> None:
    sample = ROOT / "drills" / "_scan_probe.py"
    sample.write_text('QUEUE = "x"\nTASK = "drillhall.agent.apply"\nq = f"agent.{QUEUE}"\n')
    try:
        assert len(boundary_literals(sample)) == 2
    finally:
        sample.unlink()
