"""Fault leases: the faults a run holds on hosts, from apply to revert, and their renewals.

An agent reverts a fault by itself when its lease runs out (its janitor), so a run that dies
leaves nothing broken for long. While a run lives it renews every lease every lease/3, so two
renewals can be lost before a fault ends unasked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from drills.engine.clock import Clock
from drills.engine.driver import AgentRefused, AgentUnavailable, FaultDriver, PendingReply
from drills.engine.events import Emit, EventType
from drills.engine.plan import PlannedFault, PlannedStep
from injector.protocol import FaultSpec, FaultState

log = logging.getLogger(__name__)


@dataclass
class ActiveFault:
    fault_id: str
    step: int
    host: str
    queue: str
    renewal: PendingReply | None = None
    warned: bool = False
    kind: str = ""
    peers: tuple[str, ...] = ()  # addresses the fault acts on (partition peers, destinations)
    applied_at: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)


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
        self._last_renewal = 0.0

    @property
    def active(self) -> list[ActiveFault]:
        return list(self._active.values())

    def apply(self, step: PlannedStep, fault: PlannedFault) -> ActiveFault:
        spec = FaultSpec(
            self.run_key, step.index, 1, fault.kind, dict(fault.params), self.lease_seconds
        )
        fault_id = spec.fault_id
        peers = (*fault.params.get("peers", ()), *fault.params.get("destinations", ()))
        active = ActiveFault(
            fault_id,
            step.index,
            fault.host,
            fault.queue,
            kind=fault.kind,
            peers=tuple(peers),
            params=fault.params,
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

    def renew_due(self, now: float) -> bool:
        """Renew every lease if lease/3 has passed since the last round; True if it had."""
        if now - self._last_renewal < self.lease_seconds / 3:
            return False
        self._last_renewal = now
        self._renew()
        return True

    def _renew(self) -> None:
        for fault in self._active.values():
            previous = fault.renewal
            if previous is not None:
                reply = previous.poll()
                if reply is None and not fault.warned:
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
                elif reply is not None and not reply.renewed:
                    if not fault.warned:
                        fault.warned = True
                        self._emit(
                            EventType.LEASE_WARNING,
                            {
                                "fault_id": fault.fault_id,
                                "host": fault.host,
                                "message": f"the agent reports the fault as {reply.state}: "
                                "it was reverted on the host before the step ended",
                            },
                        )
            fault.renewal = self.driver.renew(fault.queue, fault.fault_id, self.lease_seconds)

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
