"""What an agent's gate lets through, and the run tickets it keeps (no Django, no broker)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from injector.gate import Gate, GateConfig, GateConfigError, Untrusted
from injector.protocol import (
    AgentTask,
    ApprovalRecord,
    FaultSpec,
    RenewRequest,
    RevertRequest,
    RunTicket,
)
from injector.signing import ensure_agent_key, load_key, sign
from injector.tickets import TicketBook

NOW = 1_800_000_000.0
RUN = "0123456789abcdef0123456789abcdef"
KEY = bytes(32)
APPROVAL = ApprovalRecord("alice", NOW - 60, "redis-failover", 3, "c" * 64)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gate(tmp_path: Path, clock: Clock) -> Gate:
    return Gate("db1", KEY, TicketBook(tmp_path / "tickets"), max_lease_seconds=60, clock=clock)


def signed(task: AgentTask, body: dict[str, object], host: str = "db1") -> dict[str, object]:
    return sign(KEY, task, host, body, NOW + 30).to_json()


def ticket(run: str = RUN, *, approval: ApprovalRecord | None = None, lease: float = 30,
           expires: float = NOW + 600, host: str = "db1") -> dict[str, object]:  # fmt: skip
    return signed(AgentTask.ADMIT, RunTicket(run, host, lease, expires, approval).to_json())


def apply(run: str = RUN, lease: float = 10, step: int = 1) -> dict[str, object]:
    spec = FaultSpec(run, step, 1, "test.fake", {"host": "db1"}, lease)
    return signed(AgentTask.APPLY, spec.to_json())


def refused(call: object, *args: object) -> str:
    with pytest.raises(Untrusted) as refusal:
        call(*args)  # type: ignore[operator]
    assert refusal.value.permanent
    return str(refusal.value)


def test_an_admitted_run_gets_its_fault_spec_through(gate: Gate) -> None:
    reply = gate.admit(ticket())
    assert reply == {"run": RUN, "host": "db1", "expires": NOW + 600, "max_lease_seconds": 30}
    assert gate.apply(apply())["run"] == RUN
    assert gate.renew(signed(AgentTask.RENEW, RenewRequest(f"r{RUN}-s1-a1", 30).to_json()))


def test_a_spec_for_a_run_the_agent_was_not_told_about_is_refused(gate: Gate) -> None:
    said = refused(gate.apply, apply())
    assert said == (
        f"the fault r{RUN}-s1-a1 belongs to run {RUN}, which this agent was not told about "
        "(no run ticket, or it expired); refused"
    )


def test_a_renewal_for_an_unknown_run_is_refused(gate: Gate) -> None:
    renewal = signed(AgentTask.RENEW, RenewRequest(f"r{RUN}-s1-a1", 10).to_json())
    assert "which this agent was not told about" in refused(gate.renew, renewal)


def test_leases_are_capped_by_the_ticket_and_by_the_agent(gate: Gate) -> None:
    gate.admit(ticket(lease=30))
    assert "asks for a lease of 31 s; this agent allows at most 30 s" in refused(
        gate.apply, apply(lease=31)
    )
    other = "f" * 32
    gate.admit(ticket(other, lease=3600))  # the agent's own cap (60 s) wins
    assert "allows at most 60 s" in refused(gate.apply, apply(other, lease=61))
    renewal = signed(AgentTask.RENEW, RenewRequest(f"r{other}-s1-a1", 600).to_json())
    assert "asks for a lease of 600 s" in refused(gate.renew, renewal)


def test_a_run_ends_for_its_agents_when_its_ticket_expires(gate: Gate, clock: Clock) -> None:
    gate.admit(ticket(expires=NOW + 20))
    gate.apply(apply())
    clock.now = NOW + 21
    renewal = signed(AgentTask.RENEW, RenewRequest(f"r{RUN}-s1-a1", 10).to_json())
    assert "no run ticket, or it expired" in refused(gate.renew, renewal)
    # Reverting needs no ticket: it only makes the host safer.
    assert gate.revert(signed(AgentTask.REVERT, RevertRequest(f"r{RUN}-s1-a1").to_json()))


def test_an_expired_ticket_is_not_taken(gate: Gate) -> None:
    assert "expired at" in refused(gate.admit, ticket(expires=NOW - 1))
    assert gate.tickets.tickets() == []


def test_a_ticket_for_another_host_is_not_taken(gate: Gate) -> None:
    said = refused(gate.admit, ticket(host="db2"))
    assert said == f"a ticket for run {RUN} on host db2 reached the agent of db1; refused"


def test_a_protected_host_needs_the_runs_approval(gate: Gate) -> None:
    gate.protected = True
    said = refused(gate.admit, ticket())
    assert said == f"db1 is a protected host and run {RUN} carries no approval for it; refused"
    assert gate.tickets.tickets() == []
    gate.admit(ticket(approval=APPROVAL))
    assert gate.apply(apply())["run"] == RUN


def test_a_host_protected_after_admission_still_refuses_an_unapproved_run(gate: Gate) -> None:
    gate.admit(ticket())
    gate.protected = True  # its agent was re-enrolled as protected and restarted
    assert "carries no approval" in refused(gate.apply, apply())


def test_every_state_changing_request_must_be_signed(gate: Gate) -> None:
    gate.admit(ticket())
    spec = FaultSpec(RUN, 1, 1, "test.fake", {"host": "db1"}, 10).to_json()
    assert "an unsigned request to apply a fault" in refused(gate.apply, spec)
    assert "an unsigned lease renewal" in refused(gate.renew, {"fault_id": "r1-s1-a1"})
    assert "an unsigned request to revert" in refused(gate.revert, {"fault_id": "r1-s1-a1"})
    assert "an unsigned request to admit a run" in refused(gate.admit, {"run": RUN})


def test_a_signed_but_malformed_body_is_refused(gate: Gate) -> None:
    gate.admit(ticket())
    said = refused(gate.apply, signed(AgentTask.APPLY, {"run": RUN, "kind": 3}))
    assert said.startswith("a malformed fault spec was refused:")


# -- tickets on disk ------------------------------------------------------------------------


def test_tickets_survive_a_restart_and_expired_ones_are_pruned(tmp_path: Path) -> None:
    book = TicketBook(tmp_path)
    book.record(RunTicket(RUN, "db1", 10, NOW + 100, APPROVAL), NOW)
    book.record(RunTicket("a" * 32, "db1", 10, NOW + 5), NOW)
    again = TicketBook(tmp_path)  # a restarted worker
    kept = again.get(RUN, NOW)
    assert kept is not None and kept.approval == APPROVAL
    assert again.get("a" * 32, NOW + 6) is None  # expired: never valid again
    again.record(RunTicket("b" * 32, "db1", 10, NOW + 100), NOW + 6)  # recording prunes
    assert sorted(os.listdir(tmp_path)) == sorted([f"{RUN}.json", f"{'b' * 32}.json"])


def test_a_ticket_file_is_only_good_for_its_own_run(tmp_path: Path) -> None:
    book = TicketBook(tmp_path)
    book.record(RunTicket(RUN, "db1", 10, NOW + 100), NOW)
    # Copying a run's ticket under another run's name does not admit that run.
    (tmp_path / f"{'e' * 32}.json").write_text((tmp_path / f"{RUN}.json").read_text())
    assert book.get("e" * 32, NOW) is None
    (tmp_path / f"{'d' * 32}.json").write_text("{broken")
    assert book.get("d" * 32, NOW) is None
    assert book.get("../../x", NOW) is None


def test_tickets_are_written_whole(tmp_path: Path) -> None:
    book = TicketBook(tmp_path)
    for n in range(20):
        book.record(RunTicket(RUN, "db1", 10, NOW + 100 + n), NOW)
    assert os.listdir(tmp_path) == [f"{RUN}.json"]  # no temporary file left behind
    assert json.loads((tmp_path / f"{RUN}.json").read_text())["expires"] == NOW + 119


# -- configuration --------------------------------------------------------------------------


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    key = ensure_agent_key(tmp_path / "credentials", "db1")
    base = {
        "DRILLHALL_AGENT_HOST": "db1",
        "DRILLHALL_AGENT_STATE": str(tmp_path / "state"),
        "DRILLHALL_AGENT_KEY_FILE": str(key),
    }
    return {**base, **extra}


def test_the_gate_is_configured_from_the_agents_environment(tmp_path: Path) -> None:
    config = GateConfig.from_env(
        env(tmp_path, DRILLHALL_AGENT_PROTECTED="true", DRILLHALL_AGENT_MAX_LEASE="120")
    )
    assert config.protected and config.max_lease_seconds == 120
    assert config.key() == load_key(tmp_path / "credentials" / "agents" / "db1" / "hmac.key")
    gate = Gate.from_config(config)
    assert gate.tickets.directory == tmp_path / "state" / "tickets"
    default = GateConfig.from_env(env(tmp_path))
    assert not default.protected and default.max_lease_seconds == 300


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"DRILLHALL_AGENT_PROTECTED": "maybe"}, "DRILLHALL_AGENT_PROTECTED='maybe': expected"),
        ({"DRILLHALL_AGENT_MAX_LEASE": "0"}, "expected seconds in (0, 86400]"),
        ({"DRILLHALL_AGENT_MAX_LEASE": "1e9"}, "expected seconds in (0, 86400]"),
        ({"DRILLHALL_AGENT_MAX_LEASE": "nan"}, "expected seconds in (0, 86400]"),
        ({"DRILLHALL_AGENT_MAX_LEASE": "long"}, "expected a number of seconds"),
    ],
)
def test_a_bad_setting_stops_the_agent(tmp_path: Path, extra: dict[str, str], said: str) -> None:
    with pytest.raises(GateConfigError) as error:
        GateConfig.from_env(env(tmp_path, **extra))
    assert said in str(error.value)


def test_an_agent_without_a_key_says_how_to_get_one(tmp_path: Path) -> None:
    no_key = GateConfig.from_env(env(tmp_path, DRILLHALL_AGENT_KEY_FILE=""))
    with pytest.raises(
        GateConfigError, match=r"set DRILLHALL_AGENT_KEY_FILE .*drillhall enrol db1"
    ):
        no_key.key()
    missing = GateConfig.from_env(env(tmp_path, DRILLHALL_AGENT_KEY_FILE=str(tmp_path / "x")))
    with pytest.raises(GateConfigError, match=r"does not exist; enrol the host with"):
        missing.key()
