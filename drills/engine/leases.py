"""Fault leases: the faults a run holds on hosts, from apply to revert, and their renewals.

An agent reverts a fault by itself when its lease runs out (its janitor), so a run that dies
leaves nothing broken for long. While a run lives it renews every lease every lease/3, so two
renewals can be lost before a fault ends unasked.

A fault can also end early for the tool's own reasons: the agent's worker restarted and
reverted it from its ledger, a halt, or a lease that ran out because renewals were lost. The
renewals find out (a reply ``renewed: False`` with when and why, or no reply for longer than
a lease) and say so as an ``EndedEarly``: from then on the drill no longer does what it says,
and the run must stop rather than blame the system under test for what it sees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from drills.engine.clock import Clock, utc_time
from drills.engine.driver import AgentRefused, AgentUnavailable, FaultDriver, PendingReply
from drills.engine.events import Emit, EventType
from drills.engine.plan import PlannedFault, PlannedStep
from injector.protocol import FaultSpec, FaultState, RenewReply

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Renewal:
    sent_at: float
    reply: PendingReply


@dataclass
class ActiveFault:
    fault_id: str
    step: int
    host: str
    queue: str
    kind: str = ""
    peers: tuple[str, ...] = ()  # addresses the fault acts on (partition peers, destinations)
    params: dict[str, Any] = field(default_factory=dict)
    applied_at: float = 0.0
    ends_at: float = 0.0  # when its step reverts it
    # When the apply, or the last renewal the agent confirmed, was sent: the lease on the
    # host runs at least lease_seconds from here (the agent counts from when it got it).
    confirmed_at: float = 0.0
    # When the apply, or the last renewal, was sent: the next renewal is due lease/3 later.
    extended_at: float = 0.0
    renewals: list[Renewal] = field(default_factory=list)  # sent since, not answered yet
    warned: bool = False


_REVERTED = frozenset({FaultState.REVERTING, FaultState.REVERTED, FaultState.UNCONFIRMED})


# A fault the agent ended less than this before its step's end ran its course (an agent that
# restarts in the last moment of a step): "ended 0.0 s early" would blame the tool for nothing.
ON_TIME_S = 1.0


@dataclass(frozen=True)
class EndedEarly:
    """A fault that ended before its step did, for the tool's own reasons."""

    fault: ActiveFault
    at: float  # when it ended (the agent's word, or when its lease ran out)
    why: str  # a clause: "the agent reverted it (worker died)"
    detail: str  # the agent's own reason, or "lease expired"

    @property
    def early_by(self) -> float:
        return max(0.0, self.fault.ends_at - self.at)

    def short(self) -> str:
        return (
            f"the {self.fault.kind} fault on {self.fault.host} ended early at {utc_time(self.at)}"
        )

    def sentence(self) -> str:
        fault = self.fault
        return (
            f"the {fault.kind} fault on {fault.host} ended {self.early_by:.1f} s early at "
            f"{utc_time(self.at)}: {self.why}; the drill's results after that point cannot "
            "be judged"
        )

    def event(self) -> dict[str, Any]:
        return {
            "step": self.fault.step,
            "fault_id": self.fault.fault_id,
            "host": self.fault.host,
            "kind": self.fault.kind,
            "at": self.at,
            "early_by": round(self.early_by, 3),
            "detail": self.detail,
            "message": self.sentence(),
        }


def _agent_ended(fault: ActiveFault, reply: RenewReply) -> EndedEarly:
    # Without the agent's time, the fault is known to have been on only until the last
    # renewal it confirmed: judging stops there, on the safe side.
    at = reply.ended_at if reply.ended_at is not None else fault.confirmed_at
    detail = reply.detail
    if reply.state in _REVERTED:
        why = f"the agent reverted it ({detail})" if detail else "the agent reverted it"
    elif detail:
        why = f"the agent did not renew it ({detail})"
    elif reply.state is FaultState.UNKNOWN:
        why = "the agent has no record of it"
    else:
        why = f"the agent did not renew it (it reports the fault as {reply.state.value})"
    return EndedEarly(fault, at, why, detail or reply.state.value)


class FaultLeases:
    def __init__(
        self,
        run_key: str,
        driver: FaultDriver,
        clock: Clock,
        emit: Emit,
        lease_seconds: float,
        agent_timeout: float,
    ) -> None:
        self.run_key = run_key
        self.driver = driver
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.agent_timeout = agent_timeout
        self._emit = emit
        self._active: dict[tuple[str, str], ActiveFault] = {}

    @property
    def active(self) -> list[ActiveFault]:
        return list(self._active.values())

    def apply(self, step: PlannedStep, fault: PlannedFault) -> ActiveFault:
        spec = FaultSpec(
            self.run_key, step.index, 1, fault.kind, dict(fault.params), self.lease_seconds
        )
        fault_id = spec.fault_id
        peers = (*fault.params.get("peers", ()), *fault.params.get("destinations", ()))
        sent_at = self.clock.now()
        active = ActiveFault(
            fault_id,
            step.index,
            fault.host,
            fault.queue,
            kind=fault.kind,
            peers=tuple(peers),
            params=fault.params,
            confirmed_at=sent_at,
            extended_at=sent_at,
        )
        # Track before sending: if the reply is lost, revert still targets it.
        self._active[(fault.host, fault_id)] = active
        try:
            reply = self.driver.apply(fault.queue, spec, self.agent_timeout)
        except (AgentRefused, AgentUnavailable) as exc:
            raise RuntimeError(
                f"step {step.path} “{step.name}”: the {fault.kind} fault on {fault.host} could "
                f"not be applied: {exc}"
            ) from None
        active.applied_at = self.clock.now()
        self._emit(
            EventType.FAULT_APPLIED,
            {
                "step": step.index,
                "path": step.path,
                "fault_id": reply.fault_id or fault_id,
                "host": fault.host,
                "kind": fault.kind,
                "mechanism": reply.mechanism or fault.mechanism,
                "params": fault.params,
            },
        )
        return active

    def renew_due(self, now: float) -> EndedEarly | None:
        """Each lease/3 after a fault's apply: check the answers to its last renewals, and
        renew its lease. Not at the apply itself, which gave it a whole lease: a fault shorter
        than lease/3 costs its agent no renewal (a hundred 2 s drills on one host sent it a
        hundred renewals it then served one at a time, docs/performance.md).

        Returns the first fault found to have ended early; the run stops faulting then, so
        nothing more is renewed.
        """
        for fault in self.active:
            if now - fault.extended_at < self.lease_seconds / 3:
                continue
            ended = self._check(fault, now)
            if ended is not None:
                return ended
            reply = self.driver.renew(fault.queue, fault.fault_id, self.lease_seconds)
            fault.renewals.append(Renewal(now, reply))
            fault.extended_at = now
        return None

    def _check(self, fault: ActiveFault, now: float) -> EndedEarly | None:
        ended: EndedEarly | None = None
        waiting = []
        for renewal in fault.renewals:
            reply = renewal.reply.poll()
            if reply is None:
                waiting.append(renewal)
            elif reply.renewed:
                fault.confirmed_at = max(fault.confirmed_at, renewal.sent_at)
            elif ended is None:
                ended = _agent_ended(fault, reply)
        # A renewal older than one the agent confirmed no longer matters, answered or not.
        fault.renewals = [r for r in waiting if r.sent_at > fault.confirmed_at]
        if ended is not None and ended.early_by < ON_TIME_S:
            return None  # it ran its course, give or take a moment: its revert says the rest
        if ended is not None:
            return ended
        if not fault.renewals:
            return None
        if now - fault.renewals[0].sent_at > self.lease_seconds:
            # Unanswered for longer than a lease: whatever happened to the renewals, the
            # lease has run out on the host and the agent's janitor has reverted the fault.
            silent = now - fault.confirmed_at
            why = (
                f"its lease ran out on the host: no renewal was answered for {silent:.1f} s, "
                "so the agent's janitor reverted it"
            )
            return EndedEarly(fault, fault.confirmed_at + self.lease_seconds, why, "lease expired")
        if not fault.warned:
            fault.warned = True
            self._emit(
                EventType.LEASE_WARNING,
                {
                    "fault_id": fault.fault_id,
                    "host": fault.host,
                    "message": "the agent did not answer a lease renewal; if it stays "
                    "silent the fault is reverted on the host when its lease expires",
                },
            )
        return None

    def revert(self, fault: ActiveFault) -> bool:
        """Ask the agent to revert; True when it confirmed the fault is gone."""
        message = ""
        try:
            reply = self.driver.revert(fault.queue, fault.fault_id, self.agent_timeout)
            state = reply.state.value
        except (AgentUnavailable, AgentRefused) as exc:
            state, message = FaultState.UNCONFIRMED.value, str(exc)
        data = {"step": fault.step, "fault_id": fault.fault_id, "host": fault.host, "state": state}
        self._active.pop((fault.host, fault.fault_id), None)
        if state == FaultState.REVERTED:
            self._emit(EventType.FAULT_REVERTED, data)
            return True
        data["message"] = message or (
            "the agent could not confirm the revert; its janitor reverts the fault when the "
            "lease expires"
        )
        self._emit(EventType.FAULT_UNCONFIRMED, data)
        return False

    def revert_all(self) -> None:
        for fault in self.active:
            try:
                self.revert(fault)
            except Exception:  # keep reverting the others; leases are the backstop
                log.exception("revert of %s failed", fault.fault_id)
