"""The orchestrator and the agent agree on injector.protocol, and nothing else defines it.

The driver's messages go through the agent's real Celery tasks (run in-process, eagerly), signed
with real keys and checked by the agent's real gate, and the agent's replies come back through
the driver's decoding; kernel samples go through a real
Redis list from the agent's evidence session to the orchestrator's feed. A source scan proves
that no task name, queue name or Redis key of the boundary is written anywhere but the protocol.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from drills.engine.driver import AgentRefused
from drills.web import agents as web_agents
from drills.web.agents import AgentKeys, CeleryFaultDriver, RunAdmission
from ebpf import warm
from ebpf.collector import KernelSample, Scope, Source
from injector import agent as agent_app
from injector import evidence
from injector.gate import Gate
from injector.host import HostAgent
from injector.ledger import Ledger
from injector.protocol import (
    REGISTER_HOST_TASK,
    SIGNATURE_SCHEME,
    SIGNED_TASKS,
    AdmitReply,
    AgentTask,
    ApprovalRecord,
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
    RunTicket,
    SignedRequest,
    agent_queue,
    evidence_lease_key,
    evidence_samples_key,
    new_run_key,
)
from injector.signing import agent_key_path, ensure_agent_key, load_key
from injector.tickets import TicketBook
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


@dataclass
class Wired:
    """The driver's send_task delivers to the agent's own tasks, in this process; both ends
    hold keys of their own (the server every host's, the agent its own)."""

    system: FakeSystem
    keys: AgentKeys
    gate: Gate
    sent: list[tuple[str, Any]]

    def driver(self, run: str, approval: ApprovalRecord | None = None) -> CeleryFaultDriver:
        admission = RunAdmission(run, 30.0, time.time() + 600, approval)
        return CeleryFaultDriver(self.keys, admission)


@pytest.fixture
def wired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Wired]:
    system = FakeSystem()
    credentials = tmp_path / "credentials"
    for host in (HOST, "db2"):
        ensure_agent_key(credentials, host)
    host_agent = HostAgent(HOST, None, Ledger(tmp_path / "ledger"), system.factory)
    gate = Gate(HOST, load_key(agent_key_path(credentials, HOST)), TicketBook(tmp_path / "t"))
    monkeypatch.setattr(agent_app, "_host_agent", lambda: host_agent)
    monkeypatch.setattr(agent_app, "_gate", lambda: gate)
    sent: list[tuple[str, Any]] = []

    def send_task(name: str, args: list[Any], queue: str, **_: Any) -> Any:
        assert queue == agent_queue(HOST)
        sent.append((name, args[0]))
        return agent_app.app.tasks[name].apply(args=args)

    monkeypatch.setattr(web_agents.app, "send_task", send_task)
    yield Wired(system, AgentKeys(credentials), gate, sent)
    assert {name for name, _ in sent} <= {task.value for task in AgentTask}


def spec(run: str, host: str = HOST, lease: float = 30) -> FaultSpec:
    return FaultSpec(run, 2, 1, FakeFault.kind, {"host": host}, lease)


def test_a_fault_goes_through_admit_apply_renew_and_revert_in_both_sides_words(
    wired: Wired,
) -> None:
    run = new_run_key()
    driver = wired.driver(run)
    queue = agent_queue(HOST)
    assert driver.ping(queue, 5).host == HOST

    applied = driver.apply(queue, spec(run), 5)
    assert applied.fault_id == f"r{run}-s2-a1" and applied.state is FaultState.APPLIED
    assert applied.mechanism == "fake" and applied.lease_deadline > time.time()
    assert wired.system.applied == {applied.fault_id}
    assert driver.ping(queue, 5).active == (applied.fault_id,)
    [ticket] = wired.gate.tickets.tickets()
    assert (ticket.run, ticket.host, ticket.max_lease_seconds) == (run, HOST, 30.0)

    renewal = driver.renew(queue, applied.fault_id, 30).poll()
    assert renewal is not None and renewal.renewed and renewal.state is FaultState.APPLIED

    reverted = driver.revert(queue, applied.fault_id, 5)
    assert reverted.state is FaultState.REVERTED and wired.system.applied == set()
    ended = driver.renew(queue, applied.fault_id, 30).poll()
    assert ended is not None and not ended.renewed and ended.state is FaultState.REVERTED
    assert ended.ended_at is not None and ended.detail == "revert requested"

    # The run was admitted once, before its first fault; every request that changes what
    # the host carries went signed, for this host; ping went as it always did.
    names = [name for name, _ in wired.sent]
    assert names.count(AgentTask.ADMIT) == 1
    assert names.index(AgentTask.ADMIT) < names.index(AgentTask.APPLY)
    for name, request in wired.sent:
        if name in SIGNED_TASKS:
            signed = SignedRequest.from_json(request)
            assert (signed.task, signed.host) == (name, HOST)
        else:
            assert "signature" not in request


def test_a_refusal_reaches_the_engine_as_the_agents_sentence(wired: Wired) -> None:
    run = new_run_key()
    with pytest.raises(AgentRefused) as refused:
        wired.driver(run).apply(agent_queue(HOST), spec(run, host="db2"), 5)
    message = str(refused.value)
    assert "signed for host db2 reached the agent of db1 and was refused" in message
    assert "(" not in message.split(":")[0]
    assert refused.value.permanent and wired.system.applied == set()


def test_runs_of_two_databases_never_share_a_fault_id(wired: Wired) -> None:
    # Run 1 of one database and run 1 of the next: their keys differ, so both apply.
    queue = agent_queue(HOST)
    runs = [new_run_key() for _ in range(2)]
    first, second = (wired.driver(run).apply(queue, spec(run), 5) for run in runs)
    assert first.fault_id != second.fault_id
    assert wired.system.applied == {first.fault_id, second.fault_id}


def test_a_driver_applies_only_the_run_it_admits(wired: Wired) -> None:
    other = new_run_key()
    with pytest.raises(AgentRefused, match=f"run {other} was not admitted on db1"):
        wired.driver(new_run_key()).apply(agent_queue(HOST), spec(other), 5)
    assert wired.sent == [] and wired.system.applied == set()


def test_a_host_without_a_key_is_refused_before_anything_is_sent(
    wired: Wired, tmp_path: Path
) -> None:
    run = new_run_key()
    admission = RunAdmission(run, 30.0, time.time() + 600)
    driver = CeleryFaultDriver(AgentKeys(tmp_path / "nowhere"), admission)
    with pytest.raises(AgentRefused) as refused:
        driver.apply(agent_queue(HOST), spec(run), 5)
    assert str(refused.value) == "host db1 has no agent key; enrol it with `drillhall enrol db1`"
    assert wired.sent == []


def test_a_protected_host_takes_a_run_only_with_its_approval(wired: Wired) -> None:
    wired.gate.protected = True
    queue = agent_queue(HOST)
    unapproved = new_run_key()
    with pytest.raises(
        AgentRefused, match="db1 is a protected host and run .* carries no approval"
    ):
        wired.driver(unapproved).apply(queue, spec(unapproved), 5)
    assert wired.system.applied == set() and wired.gate.tickets.tickets() == []

    approved = new_run_key()
    approval = ApprovalRecord("alice", time.time(), "redis-failover", 3, "a" * 64)
    reply = wired.driver(approved, approval).apply(queue, spec(approved), 5)
    assert reply.state is FaultState.APPLIED
    [ticket] = wired.gate.tickets.tickets()
    assert ticket.approval == approval


def test_a_lease_over_the_agents_cap_is_refused_and_renewed_never(wired: Wired) -> None:
    wired.gate.max_lease_seconds = 20.0
    run = new_run_key()
    driver = wired.driver(run)
    queue = agent_queue(HOST)
    with pytest.raises(
        AgentRefused, match="asks for a lease of 30 s; this agent allows at most 20 s"
    ):
        driver.apply(queue, spec(run, lease=30), 5)
    applied = driver.apply(queue, FaultSpec(run, 3, 1, FakeFault.kind, {"host": HOST}, 20), 5)
    # A renewal the agent refuses is no answer at all: the lease runs out on the host.
    assert driver.renew(queue, applied.fault_id, 30).poll() is None
    assert driver.renew(queue, applied.fault_id, 20).poll() is not None


def test_signed_messages_read_back_as_they_were_written() -> None:
    approval = ApprovalRecord("alice", 1.5, "redis-failover", 3, "b" * 64)
    ticket = RunTicket("ab12", HOST, 10.0, 2e9, approval)
    assert RunTicket.from_json(ticket.to_json()) == ticket
    assert RunTicket.from_json(RunTicket("ab12", HOST, 10.0, 2e9).to_json()).approval is None
    reply = AdmitReply("ab12", HOST, 2e9, 10.0)
    assert AdmitReply.from_json(reply.to_json()) == reply
    signed = SignedRequest(AgentTask.APPLY.value, HOST, 2e9, {"x": 1}, "c" * 64)
    assert SignedRequest.from_json(signed.to_json()) == signed


@pytest.mark.parametrize(
    ("parse", "data", "error"),
    [
        (RunTicket.from_json, {"run": "ab", "host": HOST, "max_lease_seconds": 86401.0,
                               "expires": 2e9}, "max_lease_seconds must be in"),
        (RunTicket.from_json, {"run": "ab", "host": HOST, "max_lease_seconds": 1,
                               "expires": 2e9, "extra": 1}, "unknown fields: extra"),
        (RunTicket.from_json, {"run": "ab", "host": "../x", "max_lease_seconds": 1,
                               "expires": 2e9}, "invalid agent host name"),
        (ApprovalRecord.from_json, {"approved_by": "", "approved_at": 1, "playbook": "p",
                                    "version": 1, "content_hash": "a" * 64}, "names who"),
        (ApprovalRecord.from_json, {"approved_by": "a", "approved_at": 1, "playbook": "p",
                                    "version": 1, "content_hash": "zz"}, "sha256 in hex"),
        (SignedRequest.from_json, {"signed": {}, "signature": "C" * 64}, "64 lowercase hex"),
        (SignedRequest.from_json, {"signed": {"scheme": "md5"}, "signature": "c" * 64},
         "unknown signature scheme"),
        (SignedRequest.from_json, {"signed": {"scheme": SIGNATURE_SCHEME, "task": "drillhall"
                                              ".agent.halt", "host": HOST, "expires": 1,
                                              "body": {}}, "signature": "c" * 64},
         "is not a task that is signed"),
        (SignedRequest.from_json, {"signed": {"scheme": SIGNATURE_SCHEME, "task": "drillhall"
                                              ".agent.apply", "host": HOST,
                                              "expires": float("nan"), "body": {}},
                                   "signature": "c" * 64}, "expires must be a number"),
    ],
)  # fmt: skip
def test_malformed_signed_messages_are_protocol_errors(
    parse: Any, data: dict[str, Any], error: str
) -> None:
    with pytest.raises(ProtocolError, match=error):
        parse(data)


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


def test_a_read_now_request_reads_back_and_an_ordinary_one_does_not_name_it() -> None:
    now = CollectRequest("ab12", ("tcp_resets",), 1.0, read_now=True)
    assert CollectRequest.from_json(now.to_json()) == now
    # Written only when asked: an agent that predates it would refuse every request.
    assert "read_now" not in CollectRequest("ab12", ("tcp_resets",)).to_json()
    with pytest.raises(ProtocolError):
        CollectRequest.from_json({**now.to_json(), "read_now": "yes"})


@pytest.mark.django_db
def test_the_servers_halt_and_release_reach_the_agent_in_its_words(
    wired: Wired, needs_redis: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.contrib.auth.models import User

    from drills.web import halt as web_halt
    from drills.web.models import Host
    from injector.halt import HaltFlag

    settings.REDIS_URL = needs_redis
    settings.DRILLHALL_CREDENTIALS_DIR = wired.keys.directory  # releases are signed
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
            blocked = new_run_key()
            wired.driver(blocked).apply(agent_queue(HOST), spec(blocked), 5)
        web_halt.release(User.objects.create_user("ada", is_superuser=True))
        assert ReleaseReply.from_json(replies.pop()) == ReleaseReply(HOST, True, None)
        run = new_run_key()
        applied = wired.driver(run).apply(agent_queue(HOST), spec(run), 5)
        assert applied.state is FaultState.APPLIED
    finally:
        flag.clear()
        flag.forget_release()
        flag.close()


@pytest.mark.django_db
def test_an_admin_release_lifts_a_halt_an_agent_kept_from_a_database_since_replaced(
    wired: Wired, needs_redis: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.contrib.auth.models import User

    from drills.web import halt as web_halt
    from drills.web.models import Host
    from injector.halt import HaltFlag, HaltState

    settings.REDIS_URL = needs_redis
    settings.DRILLHALL_CREDENTIALS_DIR = wired.keys.directory  # releases are signed
    flag = HaltFlag.from_url(needs_redis)
    flag.clear()
    flag.forget_release()
    kept = agent_app._host_agent().halts.copy
    kept.keep(HaltState("halted under the old database", 1000.0, "max"))
    Host.objects.create(name=HOST, address="10.77.9.3", agent_queue=agent_queue(HOST))
    try:
        with pytest.raises(AgentRefused, match="halted under the old database"):
            blocked = new_run_key()
            wired.driver(blocked).apply(agent_queue(HOST), spec(blocked), 5)
        result = web_halt.release(User.objects.create_user("ada", is_superuser=True))
        assert not result.released and result.queues == [agent_queue(HOST)]
        assert kept.get() is None
        run = new_run_key()
        applied = wired.driver(run).apply(agent_queue(HOST), spec(run), 5)
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
    monkeypatch.setattr(warm, "open_collector", lambda name, scope: (Counting(), "eBPF"))
    store = redis.Redis.from_url(needs_redis)
    feed = web_agents.RedisEvidenceFeed(needs_redis)
    run = new_run_key()
    feed.open(run, 5, [HOST])
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


def test_a_sample_in_a_hosts_list_that_names_another_host_is_dropped(needs_redis: str) -> None:
    # Each agent's Redis user writes its own host's list only; what it puts there is its own.
    store = redis.Redis.from_url(needs_redis)
    feed = web_agents.RedisEvidenceFeed(needs_redis)
    run = new_run_key()
    feed.open(run, 5, ["web", HOST])
    try:
        own = KernelSampleMessage("web", "tcp_retransmits", 1.0, "tcp_retransmits", 2.0)
        forged = KernelSampleMessage(HOST, "tcp_retransmits", 1.0, "tcp_retransmits", 99.0)
        store.rpush(
            evidence_samples_key(run, "web"), *(json.dumps(m.to_json()) for m in (own, forged))
        )
        assert feed.drain(run) == [own]
        assert store.exists(evidence_samples_key(run, "web")) == 0
    finally:
        feed.close(run)
    assert store.exists(evidence_lease_key(run)) == 0


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


def test_an_unsigned_release_is_refused_and_the_agent_stays_halted(wired: Wired) -> None:
    from injector.halt import HaltState
    from injector.protocol import Refusal

    kept = agent_app._host_agent().halts.copy
    kept.keep(HaltState("game day over", 1000.0, "max"))
    forged = ReleaseRequest(1000.0, "mallory").to_json()
    reply = agent_app.app.tasks[AgentTask.RELEASE].apply(args=[forged]).get()
    refusal = Refusal.from_reply(reply)
    assert refusal is not None and refusal.permanent
    assert kept.get() is not None
