"""What an agent does on its host, without Celery: apply, renew, revert, ping, halt.

The Celery tasks in ``injector.agent`` are thin wrappers around ``HostAgent``; tests call it
directly. Every method takes and returns the plain JSON of the messages defined in
``injector.protocol``, and raises FaultError for a request it refuses (the task turns that
into a ``Refusal`` reply).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from injector.credentials import agent_redis_url
from injector.faults.catalogue import build_fault
from injector.faults.fault import FaultError
from injector.halt import AgentHalt, HaltCopy, HaltFlag, HaltRelease, HaltState, HaltUnknown
from injector.janitor import FaultFactory, Janitor
from injector.ledger import Entry, EntryState, Ledger, LedgerError
from injector.protocol import (
    DEFAULT_REGISTER_QUEUE,
    ApplyReply,
    FaultSpec,
    FaultState,
    HaltReply,
    HostRegistration,
    PingReply,
    ProtocolError,
    ReleaseReply,
    RenewReply,
    RevertReply,
    agent_queue,
    check_host_name,
    check_lease,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class AgentConfig:
    host: str
    netns: str | None
    state_dir: Path
    # The broker's Redis, which also holds the halt flag (None: no halt checks, tests only),
    # as this host's own Redis user.
    redis_url: str | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> AgentConfig:
        env = os.environ if environ is None else environ
        host = env.get("DRILLHALL_AGENT_HOST", "")
        state = env.get("DRILLHALL_AGENT_STATE", "")
        if not host:
            raise RuntimeError("DRILLHALL_AGENT_HOST is not set")
        if not state:
            raise RuntimeError("DRILLHALL_AGENT_STATE is not set")
        redis_url = env.get("REDIS_URL") or None
        return cls(
            host=check_host_name(host),
            netns=env.get("DRILLHALL_AGENT_NETNS") or None,
            state_dir=Path(state),
            redis_url=agent_redis_url(redis_url, host) if redis_url else None,
        )


IP_TIMEOUT = 5.0


@dataclass(frozen=True)
class Registration:
    """What an agent tells the orchestrator about its host when it starts."""

    host: str
    netns: str | None
    address: str | None
    labels: dict[str, str] = field(default_factory=dict)
    services: list[dict[str, object]] = field(default_factory=list)
    queue_name: str = DEFAULT_REGISTER_QUEUE

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Registration:
        """Read by the worker; the supervisor writes these from its command line."""
        env = os.environ if environ is None else environ
        return cls(
            host=check_host_name(env.get("DRILLHALL_AGENT_HOST", "")),
            netns=env.get("DRILLHALL_AGENT_NETNS") or None,
            address=env.get("DRILLHALL_AGENT_ADDRESS") or None,
            labels=json.loads(env.get("DRILLHALL_AGENT_LABELS") or "{}"),
            services=json.loads(env.get("DRILLHALL_AGENT_SERVICES") or "[]"),
            queue_name=env.get("DRILLHALL_REGISTER_QUEUE") or DEFAULT_REGISTER_QUEUE,
        )

    def payload(self, address: str | None) -> dict[str, object]:
        return HostRegistration(
            host=self.host,
            address=address or "",
            queue=agent_queue(self.host),
            netns=self.netns or "",
            labels=dict(self.labels),
            services=tuple(self.services),
        ).to_json()

    def resolve_address(self) -> str | None:
        """--address wins; a namespace agent falls back to its namespace's eth0."""
        if self.address:
            return self.address
        if self.netns:
            return netns_ipv4(self.netns)
        return None


def netns_ipv4(netns: str, iface: str = "eth0") -> str | None:
    """The first IPv4 address of ``iface`` inside ``netns`` (None when there is none)."""
    argv = ["ip", "-n", netns, "-j", "-4", "addr", "show", "dev", iface]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=IP_TIMEOUT, check=True)
        links = json.loads(out.stdout or "[]")
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.warning("cannot read the address of %s in netns %s: %s", iface, netns, exc)
        return None
    for link in links:
        for info in link.get("addr_info", []):
            if info.get("family") == "inet" and info.get("local"):
                return str(ipaddress.IPv4Address(info["local"]))
    return None


def parse_label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"expected a label as key=value, got {text!r}")
    return key, value


def parse_service(text: str) -> dict[str, object]:
    """NAME:PORT[:KIND], e.g. app:8080:http."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1].isdigit():
        raise ValueError(f"expected a service as NAME:PORT[:KIND], got {text!r}")
    port = int(parts[1])
    if not 1 <= port <= 65535:
        raise ValueError(f"service {parts[0]!r}: port must be 1..65535")
    return {"name": parts[0], "port": port, "kind": parts[2] if len(parts) == 3 else ""}


class HostAgent:
    def __init__(
        self,
        host: str,
        netns: str | None,
        ledger: Ledger,
        fault_factory: FaultFactory = build_fault,
        halt_flag: HaltFlag | None = None,
    ) -> None:
        self.host = host
        self.netns = netns
        self.ledger = ledger
        self.fault_factory = fault_factory
        self.janitor = Janitor(ledger, fault_factory)
        self.halt_flag = halt_flag
        # The agent's own copy of a halt lives beside its ledger and outlives Redis and restarts.
        self.halts = AgentHalt(HaltCopy(ledger.directory), halt_flag)

    @classmethod
    def from_config(cls, config: AgentConfig, halt_flag: HaltFlag | None = None) -> HostAgent:
        if halt_flag is None and config.redis_url:
            halt_flag = HaltFlag.from_url(config.redis_url)
        return cls(config.host, config.netns, Ledger(config.state_dir), halt_flag=halt_flag)

    def refuse_if_halted(self) -> None:
        """Raise FaultError while "halt all" is in force (or when that cannot be known)."""
        try:
            state = self.halts.current()
        except HaltUnknown as exc:
            # A kill switch fails closed; the orchestrator may retry once Redis answers.
            message = f"{exc}; not applying while a halt cannot be ruled out"
            raise FaultError(message, False) from exc
        if state is not None:
            raise FaultError(f"halted: {state.reason}", True)

    def apply(self, raw_spec: Any) -> dict[str, Any]:
        spec = _parse(FaultSpec.from_json, raw_spec)
        self.refuse_if_halted()
        target = spec.host
        if target is not None and target != self.host:
            raise FaultError(
                f"the fault {spec.fault_id} is meant for host {target}, but reached the agent of "
                f"{self.host}; it was not applied",
                True,
            )
        fault = self.fault_factory(spec, self.netns)  # refuses unknown kinds, checks params
        mechanism = str(fault.plan().get("mechanism") or "")
        deadline = time.time() + spec.lease_seconds

        existing = self.ledger.get(spec.fault_id)
        if existing is not None and existing.state is EntryState.APPLIED:
            log.info("%s is already applied; not applying it again", spec.fault_id)
            return self._applied(spec.fault_id, mechanism, existing.lease_deadline)
        if existing is not None and existing.state is EntryState.APPLYING:
            # A redelivery after a crash mid-apply: apply is idempotent, so finish the job.
            if self.ledger.renew(spec.fault_id, deadline) is None:
                raise FaultError(f"{spec.fault_id} changed state while resuming", False)
        elif existing is not None:
            # Only a true duplicate gets here: the same run, step and attempt (run keys are
            # unique), which ended already. Applying it again would outlive its own revert.
            raise FaultError(
                f"the fault {spec.fault_id} was already applied once and has ended "
                f"({existing.state}); a new attempt needs a new attempt number",
                True,
            )
        else:
            try:
                self.ledger.intend(spec, self.netns, deadline)
            except LedgerError as exc:
                raise FaultError(str(exc), False) from exc

        try:
            fault.apply()
        except Exception as exc:
            state = self.janitor.revert(spec.fault_id, f"apply failed: {exc}")
            log.error("applying %s failed (%s); revert: %s", spec.fault_id, exc, state)
            permanent = isinstance(exc, FaultError) and exc.permanent
            raise FaultError(
                f"{spec.kind} could not be applied on {self.host}: {exc}", permanent
            ) from exc

        entry = self.ledger.mark(spec.fault_id, EntryState.APPLIED, expect={EntryState.APPLYING})
        if entry is None:
            # The janitor claimed it (lease ran out during apply): do not leave it behind.
            self.janitor.revert(spec.fault_id, "lease expired while applying")
            raise FaultError(
                f"{spec.fault_id}: its lease expired while it was being applied", False
            )
        log.info("applied %s (%s) until %.3f", spec.fault_id, mechanism, entry.lease_deadline)
        return self._applied(spec.fault_id, mechanism, entry.lease_deadline)

    def renew(self, fault_id: str, lease_seconds: float) -> dict[str, Any]:
        lease = _parse(check_lease, lease_seconds)
        entry = self.ledger.renew(fault_id, time.time() + lease)
        if entry is not None:
            return RenewReply(
                fault_id, FaultState(entry.state.value), True, entry.lease_deadline
            ).to_json()
        current = self.ledger.get(fault_id)
        if current is None:
            return RenewReply(fault_id, FaultState.UNKNOWN, False).to_json()
        ended_at, detail = _ending(current)
        return RenewReply(
            fault_id, FaultState(current.state.value), False, None, ended_at, detail
        ).to_json()

    def revert(self, fault_id: str) -> dict[str, Any]:
        state = self.janitor.revert(fault_id, "revert requested")
        if state is None:
            reported = FaultState.UNKNOWN  # never claim to have reverted what we never knew
        elif state is EntryState.REVERTED:
            reported = FaultState.REVERTED
        else:
            reported = FaultState.UNCONFIRMED
        detail = ""
        entry = self.ledger.get(fault_id)
        if entry is not None:
            _, detail = _ending(entry)
        return RevertReply(fault_id, self.host, reported, detail).to_json()

    def ping(self) -> dict[str, Any]:
        active = tuple(entry.fault_id for entry in self.ledger.active())
        return PingReply(self.host, self.netns, active).to_json()

    def halt(self, since: float | None = None, reason: str = "", by: str = "") -> dict[str, Any]:
        """Keep the halt of ``since`` (the halt's time) and revert everything. A halt already
        released when this message arrives late does nothing: it must not revert a later run's
        faults. Without ``since`` there is nothing to keep: only revert."""
        if since is not None:
            state = HaltState(reason or "halted", since, by)
            if not self.halts.hear_halt(state):
                return HaltReply(self.host, released=True).to_json()
        reverted = self.janitor.revert_all("halt requested")
        unconfirmed = tuple(entry.fault_id for entry in self.ledger.active())
        return HaltReply(self.host, tuple(reverted), unconfirmed).to_json()

    def release(self, since: float, by: str = "") -> dict[str, Any]:
        """An admin released the halt of ``since``: drop this agent's copy if it is that one
        (or an earlier one). A halt still in force after that (a later one) is reported."""
        released = self.halts.hear_release(HaltRelease(since, by, time.time()))
        try:
            still = self.halts.current()
        except HaltUnknown:
            still = None  # nothing kept here; Redis decides at the next apply
        return ReleaseReply(
            self.host, released is not None, None if still is None else still.since
        ).to_json()

    def _applied(self, fault_id: str, mechanism: str, deadline: float) -> dict[str, Any]:
        return ApplyReply(fault_id, self.host, mechanism, deadline, self.netns).to_json()


def parse_request(parser: Callable[[Any], T], raw: Any) -> T:
    """A request parsed by its protocol type; malformed ones are refused for good."""
    try:
        return parser(raw)
    except ProtocolError as exc:
        raise FaultError(f"a malformed request was refused: {exc}", True) from None


_parse = parse_request


def _ending(entry: Entry) -> tuple[float | None, str]:
    """When and why the agent ended a fault, from its ledger history (the first revert)."""
    for event in entry.history:
        if event.get("state") == EntryState.REVERTING.value:
            return float(event.get("at") or 0.0) or None, str(event.get("detail") or "")
    return None, ""
