"""The agent's operations (injector.host.HostAgent) and its Celery tasks, run in-process."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from injector.faults.fault import FaultError
from injector.host import HostAgent
from injector.ledger import EntryState, Ledger
from injector.protocol import AgentTask, FaultSpec, RevertRequest, RunTicket
from injector.signing import ensure_agent_key, load_key, sign
from tests.conftest import enrolled
from tests.injector.fakes import FakeSystem, fake_spec
from tests.injector.netlab import NetPair


@pytest.fixture
def system() -> FakeSystem:
    return FakeSystem()


@pytest.fixture
def agent(tmp_path: Path, system: FakeSystem) -> HostAgent:
    return HostAgent("db1", None, Ledger(tmp_path / "ledger"), system.factory)


def history(agent: HostAgent, fault_id: str) -> list[str]:
    entry = agent.ledger.get(fault_id)
    assert entry is not None
    return [h["state"] for h in entry.history]


def test_apply_records_intent_then_applies(agent: HostAgent, system: FakeSystem) -> None:
    result = agent.apply(fake_spec(host="db1").to_json())
    assert result["fault_id"] == "r1-s1-a1"
    assert result["state"] == "applied"
    assert result["mechanism"] == "fake"
    assert result["host"] == "db1"
    assert system.applied == {"r1-s1-a1"}
    assert history(agent, "r1-s1-a1") == ["applying", "applied"]


def test_same_fault_delivered_twice_applies_once(agent: HostAgent, system: FakeSystem) -> None:
    spec = fake_spec().to_json()
    first = agent.apply(spec)
    second = agent.apply(spec)
    assert second["state"] == "applied"
    assert second["lease_deadline"] == first["lease_deadline"]
    assert system.apply_calls == ["r1-s1-a1"]
    assert history(agent, "r1-s1-a1") == ["applying", "applied"]


def test_redelivery_after_a_crash_mid_apply_finishes_the_apply(
    agent: HostAgent, system: FakeSystem
) -> None:
    spec = fake_spec()
    agent.ledger.intend(spec, None, time.time() + 5)  # the previous worker died here
    assert agent.apply(spec.to_json())["state"] == "applied"
    assert system.applied == {"r1-s1-a1"}


def test_an_ended_fault_is_not_applied_again(agent: HostAgent, system: FakeSystem) -> None:
    spec = fake_spec().to_json()
    agent.apply(spec)
    agent.revert("r1-s1-a1")
    with pytest.raises(FaultError) as caught:
        agent.apply(spec)
    assert caught.value.permanent
    assert system.applied == set()


def test_spec_for_another_host_is_refused(agent: HostAgent, system: FakeSystem) -> None:
    with pytest.raises(FaultError) as caught:
        agent.apply(fake_spec(host="db2").to_json())
    assert caught.value.permanent
    assert agent.ledger.entries() == [] and system.apply_calls == []


def test_kind_outside_the_catalogue_is_refused(tmp_path: Path) -> None:
    real = HostAgent("db1", None, Ledger(tmp_path / "ledger"))
    spec = FaultSpec("1", 1, 1, "disk.fill", {}, 5).to_json()
    with pytest.raises(FaultError) as caught:
        real.apply(spec)
    assert caught.value.permanent
    assert real.ledger.entries() == []


def test_failed_apply_is_reverted_and_raised(agent: HostAgent, system: FakeSystem) -> None:
    system.failing_apply.add("r1-s1-a1")
    with pytest.raises(FaultError, match="half applied"):
        agent.apply(fake_spec().to_json())
    assert system.applied == set()
    assert history(agent, "r1-s1-a1") == ["applying", "reverting", "reverted"]


def test_revert_is_idempotent(agent: HostAgent, system: FakeSystem) -> None:
    agent.apply(fake_spec().to_json())
    assert agent.revert("r1-s1-a1")["state"] == "reverted"
    assert agent.revert("r1-s1-a1")["state"] == "reverted"
    assert system.applied == set()


def test_revert_of_an_unknown_id_says_unknown(agent: HostAgent) -> None:
    assert agent.revert("r404-s1-a1") == {"fault_id": "r404-s1-a1", "state": "unknown",
                                          "host": "db1", "detail": ""}  # fmt: skip
    assert agent.revert("../etc")["state"] == "unknown"


def test_revert_that_does_not_take_says_unconfirmed(agent: HostAgent, system: FakeSystem) -> None:
    agent.apply(fake_spec().to_json())
    system.stuck.add("r1-s1-a1")
    assert agent.revert("r1-s1-a1")["state"] == "unconfirmed"
    assert agent.ping()["active"] == ["r1-s1-a1"]


def test_renew_extends_only_live_faults(agent: HostAgent) -> None:
    agent.apply(fake_spec(lease=1).to_json())
    renewed = agent.renew("r1-s1-a1", 60)
    assert renewed["renewed"] and renewed["state"] == "applied"
    assert renewed["lease_deadline"] > time.time() + 50
    unknown = agent.renew("r7-s7-a7", 60)
    assert (unknown["state"], unknown["renewed"]) == ("unknown", False)
    agent.revert("r1-s1-a1")
    ended = agent.renew("r1-s1-a1", 60)
    # Said with when and why it ended: the run tells an agent's own revert from the system's.
    assert ended["renewed"] is False and ended["state"] == "reverted"
    assert ended["detail"] == "revert requested" and ended["ended_at"] <= time.time()
    with pytest.raises(FaultError):
        agent.renew("r1-s1-a1", -5)


def test_ping_lists_active_faults_and_halt_reverts_them(
    agent: HostAgent, system: FakeSystem
) -> None:
    agent.apply(fake_spec(attempt=1).to_json())
    agent.apply(fake_spec(attempt=2).to_json())
    assert agent.ping() == {"host": "db1", "netns": None, "active": ["r1-s1-a1", "r1-s1-a2"]}
    halted = agent.halt()
    assert halted["reverted"] == ["r1-s1-a1", "r1-s1-a2"] and halted["unconfirmed"] == []
    assert system.applied == set() and agent.ping()["active"] == []


@pytest.fixture
def own_user() -> Iterator[str]:
    """A host of this test's own, whose agent reads the halt flag as its own Redis user (gone
    afterwards, with its connections)."""
    host = f"ha-{os.getpid()}"
    with enrolled(host):
        yield host


def test_celery_tasks_apply_once_and_revert_a_real_partition(
    netpair: NetPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_user: str
) -> None:
    from injector import agent as agent_app

    monkeypatch.setenv("DRILLHALL_AGENT_HOST", own_user)
    monkeypatch.setenv("DRILLHALL_AGENT_NETNS", netpair.a)
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path / "ledger"))
    key_file = ensure_agent_key(tmp_path / "credentials", own_user)
    monkeypatch.setenv("DRILLHALL_AGENT_KEY_FILE", str(key_file))

    def signed(task: AgentTask, body: dict[str, Any]) -> dict[str, Any]:
        # As the orchestrator sends it (injector.gate refuses anything else).
        return sign(load_key(key_file), task, own_user, body, time.time() + 60).to_json()

    ticket = RunTicket("8", own_user, 30, time.time() + 600).to_json()
    assert agent_app.admit_run.apply(args=[signed(AgentTask.ADMIT, ticket)]).get()["run"] == "8"
    spec = signed(AgentTask.APPLY, FaultSpec("8", 1, 1, "network.partition",
                  {"peers": [netpair.addr_b], "host": own_user}, 30).to_json())  # fmt: skip

    def revert(fault_id: str) -> dict[str, object]:
        request = signed(AgentTask.REVERT, RevertRequest(fault_id).to_json())
        return agent_app.revert_fault.apply(args=[request]).get()

    first = agent_app.apply_fault.apply(args=[spec]).get()
    second = agent_app.apply_fault.apply(args=[spec]).get()
    assert first["state"] == second["state"] == "applied"
    assert first["mechanism"] == "nftables"
    assert netpair.nft_tables(netpair.a) == ["drillhall_r8_s1"]
    assert not netpair.ping(netpair.b, netpair.a, wait=0.5)
    entry = Ledger(tmp_path / "ledger").get("r8-s1-a1")
    assert entry is not None and entry.state is EntryState.APPLIED
    assert [h["state"] for h in entry.history] == ["applying", "applied"]
    assert agent_app.ping.apply(args=[{}]).get()["active"] == ["r8-s1-a1"]

    assert revert("r8-s1-a1")["state"] == "reverted"
    assert revert("r8-s1-a1")["state"] == "reverted"
    assert revert("r8-s1-a9")["state"] == "unknown"
    # A malformed request is answered with the agent's sentence, never an exception's repr.
    malformed = signed(AgentTask.REVERT, {"fault_id": "../etc"})
    refused = agent_app.revert_fault.apply(args=[malformed]).get()
    assert refused["refused"]["permanent"] and "malformed" in refused["refused"]["message"]
    assert netpair.nft_tables(netpair.a) == []
    assert netpair.ping(netpair.b, netpair.a)
