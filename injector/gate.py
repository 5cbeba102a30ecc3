"""What an agent checks before it acts on a request that changes what its host carries.

Anyone who can write to the broker can put a message on an agent's queue, so the agent trusts
none of them by where they came from. A request is acted on only when:

- it is signed with this host's key, for this host and this task, and not expired
  (injector/signing.py): admit, apply, renew and revert;
- for apply and renew, the run was admitted here with a signed ``RunTicket`` that has not
  expired (injector/tickets.py keeps them across restarts);
- for apply and renew, the lease asked for is within both the ticket's and this agent's cap
  (``DRILLHALL_AGENT_MAX_LEASE``, default 300 s): a forged or buggy request cannot leave a
  fault on for a day;
- on a host that is protected by its own configuration (``DRILLHALL_AGENT_PROTECTED=true``,
  set at enrolment; the server's inventory flag is the server's view), the run's ticket
  carries an approval record.

Everything else is refused with an ``Untrusted`` error, which the agent's task turns into a
``Refusal`` with the sentence and logs. Reverting needs no ticket: a revert only makes a host
safer, and must work after a run's ticket expired.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from injector.faults.fault import FaultError
from injector.protocol import (
    MAX_LEASE_SECONDS,
    AdmitReply,
    AgentTask,
    FaultSpec,
    ProtocolError,
    RenewRequest,
    RevertRequest,
    RunTicket,
    check_host_name,
    parse_fault_id,
)
from injector.signing import KeyFileError, SignatureError, load_key, utc, verify
from injector.tickets import TicketBook

DEFAULT_MAX_LEASE_SECONDS = 300.0
T = TypeVar("T")
TICKETS_DIR = "tickets"


class GateConfigError(RuntimeError):
    """The agent's own trust settings are missing or malformed; it must not start."""


class Untrusted(FaultError):
    """A request this agent will not act on, for good; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, True)


def _env_bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in {"", "0", "false", "no", "off"}:
        return False
    if raw in {"1", "true", "yes", "on"}:
        return True
    raise GateConfigError(f"{name}={env[name]!r}: expected one of true/false/1/0/yes/no/on/off")


def _env_lease(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise GateConfigError(f"{name}={raw!r}: expected a number of seconds") from None
    if not math.isfinite(value) or not 0 < value <= MAX_LEASE_SECONDS:
        raise GateConfigError(f"{name}={raw!r}: expected seconds in (0, {MAX_LEASE_SECONDS:.0f}]")
    return value


@dataclass(frozen=True)
class GateConfig:
    host: str
    key_file: Path | None
    state_dir: Path
    protected: bool = False
    max_lease_seconds: float = DEFAULT_MAX_LEASE_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GateConfig:
        env = os.environ if environ is None else environ
        host, state = env.get("DRILLHALL_AGENT_HOST", ""), env.get("DRILLHALL_AGENT_STATE", "")
        if not host or not state:
            raise GateConfigError("DRILLHALL_AGENT_HOST and DRILLHALL_AGENT_STATE must be set")
        key_file = env.get("DRILLHALL_AGENT_KEY_FILE") or None
        return cls(
            host=check_host_name(host),
            key_file=Path(key_file) if key_file else None,
            state_dir=Path(state),
            protected=_env_bool(env, "DRILLHALL_AGENT_PROTECTED"),
            max_lease_seconds=_env_lease(
                env, "DRILLHALL_AGENT_MAX_LEASE", DEFAULT_MAX_LEASE_SECONDS
            ),
        )

    def key(self) -> bytes:
        if self.key_file is None:
            raise GateConfigError(
                f"this agent has no key: set DRILLHALL_AGENT_KEY_FILE (or --key-file) to the "
                f"file made when {self.host} was enrolled (`drillhall enrol {self.host}`)"
            )
        try:
            return load_key(self.key_file)
        except KeyFileError as exc:
            raise GateConfigError(
                f"{exc}; enrol the host with `drillhall enrol {self.host}`"
            ) from None


class Gate:
    def __init__(
        self,
        host: str,
        key: bytes,
        tickets: TicketBook,
        *,
        protected: bool = False,
        max_lease_seconds: float = DEFAULT_MAX_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self._key = key
        self.tickets = tickets
        self.protected = protected
        self.max_lease_seconds = max_lease_seconds
        self.clock = clock

    @classmethod
    def from_config(cls, config: GateConfig) -> Gate:
        return cls(
            config.host,
            config.key(),
            TicketBook(config.state_dir / TICKETS_DIR),
            protected=config.protected,
            max_lease_seconds=config.max_lease_seconds,
        )

    # -- the requests ------------------------------------------------------------------------

    def admit(self, raw: Any) -> dict[str, Any]:
        """Record a run's ticket; the reply says until when and with which lease cap."""
        ticket = _parsed(RunTicket.from_json, self.open_signed(AgentTask.ADMIT, raw), "run ticket")
        now = self.clock()
        if ticket.host != self.host:
            raise Untrusted(
                f"a ticket for run {ticket.run} on host {ticket.host} reached the agent of "
                f"{self.host}; refused"
            )
        if ticket.expires <= now:
            raise Untrusted(f"the ticket of run {ticket.run} expired at {utc(ticket.expires)}")
        self._refuse_unapproved(ticket)
        self.tickets.record(ticket, now)
        return AdmitReply(ticket.run, self.host, ticket.expires, self._lease_cap(ticket)).to_json()

    def apply(self, raw: Any) -> dict[str, Any]:
        """The fault spec of a signed apply for an admitted run, within the lease cap."""
        body = self.open_signed(AgentTask.APPLY, raw)
        spec = _parsed(FaultSpec.from_json, body, "fault spec")
        ticket = self._ticket(spec.run, spec.fault_id)
        self._refuse_long_lease(spec.lease_seconds, ticket, spec.fault_id)
        self._refuse_unapproved(ticket)
        return body

    def renew(self, raw: Any) -> RenewRequest:
        request = _parsed(RenewRequest.from_json, self.open_signed(AgentTask.RENEW, raw), "renewal")
        run, _, _ = parse_fault_id(request.fault_id)
        ticket = self._ticket(run, request.fault_id)
        self._refuse_long_lease(request.lease_seconds, ticket, request.fault_id)
        return request

    def revert(self, raw: Any) -> RevertRequest:
        return _parsed(
            RevertRequest.from_json, self.open_signed(AgentTask.REVERT, raw), "revert request"
        )

    # -- the checks --------------------------------------------------------------------------

    def open_signed(self, task: AgentTask, raw: Any) -> dict[str, Any]:
        """The body of a request signed for this host and ``task``; Untrusted otherwise.
        Every signed task's entry point starts here (a new one, such as a release, too)."""
        try:
            return verify(self._key, raw, task=task, host=self.host, now=self.clock())
        except SignatureError as exc:
            raise Untrusted(str(exc)) from None

    def _ticket(self, run: str, fault_id: str) -> RunTicket:
        ticket = self.tickets.get(run, self.clock())
        if ticket is None:
            raise Untrusted(
                f"the fault {fault_id} belongs to run {run}, which this agent was not told "
                "about (no run ticket, or it expired); refused"
            )
        return ticket

    def _lease_cap(self, ticket: RunTicket) -> float:
        return min(self.max_lease_seconds, ticket.max_lease_seconds)

    def _refuse_long_lease(self, lease: float, ticket: RunTicket, fault_id: str) -> None:
        cap = self._lease_cap(ticket)
        if lease > cap:
            raise Untrusted(
                f"the fault {fault_id} asks for a lease of {lease:g} s; this agent allows at "
                f"most {cap:g} s for run {ticket.run}; refused"
            )

    def _refuse_unapproved(self, ticket: RunTicket) -> None:
        if self.protected and ticket.approval is None:
            raise Untrusted(
                f"{self.host} is a protected host and run {ticket.run} carries no approval "
                "for it; refused"
            )


def _parsed(parse: Callable[[Any], T], body: Any, what: str) -> T:
    try:
        return parse(body)
    except ProtocolError as exc:
        raise Untrusted(f"a malformed {what} was refused: {exc}") from None
