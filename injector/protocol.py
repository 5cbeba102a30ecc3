"""What crosses the orchestrator–agent boundary, defined once and imported by both sides.

The orchestrator (drills/web/agents.py, drills/engine) sends tasks by name to the queue of a
host's agent; the agent (injector/agent.py, injector/host.py, injector/evidence.py) answers
with the replies below and pushes kernel samples to per-run Redis lists. Task names, queue
names, fault ids, Redis keys and every message's fields live here and nowhere else, so the two
sides cannot drift apart; tests/injector/test_protocol.py proves they agree.

Every message is plain JSON. ``from_json`` refuses anything malformed with a ProtocolError
(the sender is a bug or an impostor: retrying cannot help), and every reply is an object: an
agent that refuses a request answers with a ``Refusal`` instead of raising, so what a person
finally reads is the agent's sentence, not an exception's repr.

Trust: every request that changes what a host carries (admit, apply, renew, revert) travels as
a ``SignedRequest``, signed by the orchestrator with that host's own key (injector/signing.py),
and a fault is applied only for a run the agent was told about with a signed ``RunTicket``
(injector/gate.py). docs/agent-channel.md says what an agent refuses and why.

Identity: a run is known by its key, a random UUID (32 hex digits) made when the run is
created. Fault ids derive from it (``r<run key>-s<step>-a<attempt>``), so runs of different
databases, servers or test sessions never share a fault id, and an agent's ledger, which
outlives all of them, refuses only a true duplicate: the same run, step and attempt.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class ProtocolError(ValueError):
    """A message that does not follow this protocol (always permanent)."""


class AgentTask(StrEnum):
    """Tasks an agent serves on its queue ``agent.<host>``."""

    APPLY = "drillhall.agent.apply"
    RENEW = "drillhall.agent.renew"
    REVERT = "drillhall.agent.revert"
    PING = "drillhall.agent.ping"
    HALT = "drillhall.agent.halt"
    RELEASE = "drillhall.agent.release"
    COLLECT = "drillhall.agent.collect"
    ADMIT = "drillhall.agent.admit"


# The one task an agent sends the other way: announcing its host when its worker starts. It has
# a queue of its own, which orchestrator workers also consume: an agent's Redis user may push to
# that queue only, never to the orchestrator's (injector.redis_acl).
REGISTER_HOST_TASK = "drillhall.register_host"
REGISTER_QUEUE = "registrations"
DEFAULT_REGISTER_QUEUE = REGISTER_QUEUE

# A lease longer than a day is a bug in the caller, not a drill.
MAX_LEASE_SECONDS = 24 * 3600.0
# The longest reason (and author) of a halt: the agent keeps it on disk.
MAX_HALT_REASON = 200

HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
RUN_KEY = re.compile(r"^[0-9a-f]{1,32}$")
FAULT_ID = re.compile(r"^r([0-9a-f]{1,32})-s([0-9]+)-a([0-9]+)$")


def check_host_name(name: str) -> str:
    # Host names become queue names and directory names: keep them boring.
    if not isinstance(name, str) or not HOST_NAME.match(name):
        raise ProtocolError(f"invalid agent host name {name!r} (letters, digits, '.', '_', '-')")
    return name


def agent_queue(host: str) -> str:
    """The queue an agent consumes: one per host."""
    return f"agent.{check_host_name(host)}"


def host_of_queue(queue: str) -> str:
    return queue.removeprefix("agent.")


# -- what else of the broker an agent touches (its Redis user may touch nothing more) ----------
# ':' cannot be part of a host name, so these prefixes of one host never cover another's keys.


def agent_task_id(host: str) -> str:
    """A fresh id for a task sent to ``host``'s agent. The agent stores its reply under
    Celery's result key for this id, which its Redis user may write only with this prefix."""
    return f"{agent_task_id_prefix(host)}{uuid.uuid4().hex}"


def task_id_for(queue: str) -> str | None:
    """A task id naming the queue's host, whose agent's Redis user may write the replies of
    such ids only (None, Celery's own id, for a queue that names no host)."""
    try:
        return agent_task_id(host_of_queue(queue))
    except ProtocolError:
        return None


def agent_task_id_prefix(host: str) -> str:
    return f"agent:{check_host_name(host)}:"


def agent_keys_prefix(host: str) -> str:
    """The agent's own bookkeeping keys (its broker's unacknowledged messages, its heartbeat)."""
    return f"drillhall:agent:{check_host_name(host)}:"


def agent_heartbeat_key(host: str) -> str:
    """Where ``host``'s agent says when it last answered its own ping (injector.heartbeat)."""
    return f"{agent_keys_prefix(host)}heartbeat"


def new_run_key() -> str:
    """A fresh run key: random, so no database or server can hand out the same one twice."""
    return uuid.uuid4().hex


def check_run_key(value: Any) -> str:
    if not isinstance(value, str) or not RUN_KEY.match(value):
        raise ProtocolError(f"a run key is up to 32 lowercase hex digits, got {value!r}")
    return value


def fault_id(run: str, step: int, attempt: int) -> str:
    return f"r{run}-s{step}-a{attempt}"


def parse_fault_id(value: Any) -> tuple[str, int, int]:
    """(run key, step, attempt) of a fault id; ProtocolError for anything else."""
    match = FAULT_ID.match(value) if isinstance(value, str) else None
    if match is None:
        raise ProtocolError(f"malformed fault id {value!r}")
    return match.group(1), int(match.group(2)), int(match.group(3))


def check_lease(value: Any, name: str = "lease_seconds") -> float:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not 0 < value <= MAX_LEASE_SECONDS
    ):
        raise ProtocolError(f"{name} must be in (0, {MAX_LEASE_SECONDS:.0f}], got {value!r}")
    return float(value)


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ProtocolError(f"{what} must be an object, got {type(data).__name__}")
    return data


def _fields(data: Mapping[str, Any], what: str, allowed: set[str]) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise ProtocolError(f"{what} has unknown fields: {', '.join(sorted(unknown))}")


def _count(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    # bool is an int subclass; a True step is a caller bug.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _str(data: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise ProtocolError(f"{name} must be a string, got {value!r}")
    return value


def _opt_float(data: Mapping[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ProtocolError(f"{name} must be a number, got {value!r}")
    return float(value)


def _str_list(data: Mapping[str, Any], name: str) -> list[str]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(f"{name} must be a list of strings")
    return list(value)


# -- requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultSpec:
    """One fault to inject: which run, step and attempt asked for it, what, and for how long
    at most without a renewal. ``params`` are the fault kind's own (checked by its class)."""

    run: str  # the run key
    step: int
    attempt: int
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    lease_seconds: float = 30.0

    @property
    def fault_id(self) -> str:
        return fault_id(self.run, self.step, self.attempt)

    @property
    def host(self) -> str | None:
        host = self.params.get("host")
        return host if isinstance(host, str) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "step": self.step,
            "attempt": self.attempt,
            "kind": self.kind,
            "params": dict(self.params),
            "lease_seconds": self.lease_seconds,
        }

    @classmethod
    def from_json(cls, data: Any) -> FaultSpec:
        data = _object(data, "a fault spec")
        _fields(
            data, "the fault spec", {"run", "step", "attempt", "kind", "params", "lease_seconds"}
        )
        kind = data.get("kind")
        if not isinstance(kind, str) or not kind:
            raise ProtocolError(f"the fault spec's kind must be a non-empty string, got {kind!r}")
        params = data.get("params", {})
        if not isinstance(params, dict):
            raise ProtocolError("the fault spec's params must be an object")
        return cls(
            run=check_run_key(data.get("run")),
            step=_count(data, "step"),
            attempt=_count(data, "attempt"),
            kind=kind,
            params=dict(params),
            lease_seconds=check_lease(data.get("lease_seconds")),
        )


@dataclass(frozen=True)
class RenewRequest:
    fault_id: str
    lease_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"fault_id": self.fault_id, "lease_seconds": self.lease_seconds}

    @classmethod
    def from_json(cls, data: Any) -> RenewRequest:
        data = _object(data, "a renewal")
        _fields(data, "the renewal", {"fault_id", "lease_seconds"})
        parse_fault_id(data.get("fault_id"))
        return cls(data["fault_id"], check_lease(data.get("lease_seconds")))


@dataclass(frozen=True)
class RevertRequest:
    fault_id: str

    def to_json(self) -> dict[str, Any]:
        return {"fault_id": self.fault_id}

    @classmethod
    def from_json(cls, data: Any) -> RevertRequest:
        data = _object(data, "a revert request")
        _fields(data, "the revert request", {"fault_id"})
        parse_fault_id(data.get("fault_id"))
        return cls(data["fault_id"])


@dataclass(frozen=True)
class HaltRequest:
    """Halt all. ``since`` (the server's time of the halt) names it: the agent keeps it in its
    own copy until a release of that halt, and a message that arrives after its halt was
    released does nothing. Without ``since`` the agent only reverts what it has."""

    since: float | None = None
    reason: str = ""
    by: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"since": self.since, "reason": self.reason, "by": self.by}

    @classmethod
    def from_json(cls, data: Any) -> HaltRequest:
        data = _object(data, "a halt request")
        _fields(data, "the halt request", {"since", "reason", "by"})
        reason, by = _str(data, "reason", ""), _str(data, "by", "")
        if len(reason) > MAX_HALT_REASON or len(by) > MAX_HALT_REASON:
            raise ProtocolError(f"a halt's reason and author are at most {MAX_HALT_REASON} long")
        return cls(_opt_float(data, "since"), reason, by)


@dataclass(frozen=True)
class ReleaseRequest:
    """An admin released the halt of ``since``: it, and any earlier halt, is over."""

    since: float
    by: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"since": self.since, "by": self.by}

    @classmethod
    def from_json(cls, data: Any) -> ReleaseRequest:
        data = _object(data, "a release request")
        _fields(data, "the release request", {"since", "by"})
        since = _opt_float(data, "since")
        if since is None or not math.isfinite(since):
            raise ProtocolError("a release names the halt it lifts by its time (since)")
        return cls(since, _str(data, "by", ""))


@dataclass(frozen=True)
class CollectRequest:
    """Start a run's kernel collectors on a host; they stop when the run's evidence lease goes.

    With ``read_now``, start nothing: the run's collectors, if they run, read and send their
    samples at once instead of at the end of their interval (the run's end asks, so that it
    need not wait up to an interval for the samples of its last revert)."""

    run: str
    names: tuple[str, ...]
    interval: float = 1.0
    read_now: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run": self.run,
            "names": list(self.names),
            "interval": self.interval,
        }
        if self.read_now:  # only then: an agent that predates it refuses the key
            out["read_now"] = True
        return out

    @classmethod
    def from_json(cls, data: Any) -> CollectRequest:
        data = _object(data, "a collect request")
        _fields(data, "the collect request", {"run", "names", "interval", "read_now"})
        interval = _opt_float(data, "interval") or 1.0
        if not 0.05 <= interval <= 60:
            raise ProtocolError(f"interval must be between 0.05 and 60 s, got {interval!r}")
        read_now = data.get("read_now", False)
        if not isinstance(read_now, bool):
            raise ProtocolError(f"read_now must be true or false, got {read_now!r}")
        return cls(
            check_run_key(data.get("run")), tuple(_str_list(data, "names")), interval, read_now
        )


@dataclass(frozen=True)
class PingRequest:
    def to_json(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_json(cls, data: Any) -> PingRequest:
        _fields(_object(data, "a ping"), "the ping", set())
        return cls()


# -- replies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """The agent would not or could not do it; ``message`` is a sentence for people.

    ``permanent``: retrying the same request cannot help (a bad spec, a halt, a fault that
    already ended), as opposed to a passing trouble (Redis unreachable while checking the halt).
    """

    message: str
    permanent: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"refused": {"message": self.message, "permanent": self.permanent}}

    @classmethod
    def from_reply(cls, data: Any) -> Refusal | None:
        """The refusal in a reply, or None when the reply is not one."""
        if not isinstance(data, Mapping) or "refused" not in data:
            return None
        body = _object(data["refused"], "a refusal")
        return cls(_str(body, "message", "the agent refused"), bool(body.get("permanent", True)))


class FaultState(StrEnum):
    """A fault as its agent's ledger knows it (``unknown``: the agent never had it)."""

    APPLYING = "applying"
    APPLIED = "applied"
    REVERTING = "reverting"
    REVERTED = "reverted"
    UNCONFIRMED = "unconfirmed"
    UNKNOWN = "unknown"


def _state(data: Mapping[str, Any]) -> FaultState:
    try:
        return FaultState(str(data.get("state")))
    except ValueError:
        raise ProtocolError(f"unknown fault state {data.get('state')!r}") from None


@dataclass(frozen=True)
class ApplyReply:
    fault_id: str
    host: str
    mechanism: str
    lease_deadline: float
    netns: str | None = None
    state: FaultState = FaultState.APPLIED

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state.value}

    @classmethod
    def from_json(cls, data: Any) -> ApplyReply:
        data = _object(data, "an apply reply")
        netns = data.get("netns")
        return cls(
            fault_id=_str(data, "fault_id"),
            host=_str(data, "host"),
            mechanism=str(data.get("mechanism") or ""),
            lease_deadline=_opt_float(data, "lease_deadline") or 0.0,
            netns=netns if isinstance(netns, str) else None,
            state=_state(data),
        )


@dataclass(frozen=True)
class RenewReply:
    """``renewed`` is False when the fault is no longer on: then ``ended_at`` and ``detail``
    say when and why the agent ended it (its lease ran out, its worker restarted, a halt)."""

    fault_id: str
    state: FaultState
    renewed: bool
    lease_deadline: float | None = None
    ended_at: float | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state.value}

    @classmethod
    def from_json(cls, data: Any) -> RenewReply:
        data = _object(data, "a renewal reply")
        return cls(
            fault_id=_str(data, "fault_id"),
            state=_state(data),
            renewed=bool(data.get("renewed")),
            lease_deadline=_opt_float(data, "lease_deadline"),
            ended_at=_opt_float(data, "ended_at"),
            detail=str(data.get("detail") or ""),
        )


@dataclass(frozen=True)
class RevertReply:
    fault_id: str
    host: str
    state: FaultState  # reverted, unconfirmed, or unknown (never applied here)
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state.value}

    @classmethod
    def from_json(cls, data: Any) -> RevertReply:
        data = _object(data, "a revert reply")
        return cls(
            _str(data, "fault_id"), _str(data, "host"), _state(data), str(data.get("detail") or "")
        )


@dataclass(frozen=True)
class PingReply:
    host: str
    netns: str | None = None
    active: tuple[str, ...] = ()  # fault ids the host may still carry

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "netns": self.netns, "active": list(self.active)}

    @classmethod
    def from_json(cls, data: Any) -> PingReply:
        data = _object(data, "a ping reply")
        netns = data.get("netns")
        return cls(
            _str(data, "host"),
            netns if isinstance(netns, str) else None,
            tuple(_str_list(data, "active")),
        )


@dataclass(frozen=True)
class HaltReply:
    host: str
    reverted: tuple[str, ...] = ()
    unconfirmed: tuple[str, ...] = ()
    released: bool = False  # the halt was already lifted when the message arrived

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "reverted": list(self.reverted),
            "unconfirmed": list(self.unconfirmed),
            "released": self.released,
        }

    @classmethod
    def from_json(cls, data: Any) -> HaltReply:
        data = _object(data, "a halt reply")
        return cls(
            _str(data, "host"),
            tuple(_str_list(data, "reverted")),
            tuple(_str_list(data, "unconfirmed")),
            bool(data.get("released")),
        )


@dataclass(frozen=True)
class ReleaseReply:
    """``released``: the agent dropped its copy of that halt. ``halted_since``: the halt it
    still obeys (a later one), or None when it may apply faults again."""

    host: str
    released: bool = False
    halted_since: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> ReleaseReply:
        data = _object(data, "a release reply")
        return cls(_str(data, "host"), bool(data.get("released")), _opt_float(data, "halted_since"))


@dataclass(frozen=True)
class CollectorStatus:
    """One collector on one host: its source (ebpf, proc) or None when it does not run."""

    name: str
    source: str | None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> CollectorStatus:
        data = _object(data, "a collector status")
        source = data.get("source")
        return cls(
            _str(data, "name"),
            source if isinstance(source, str) else None,
            str(data.get("reason") or ""),
        )


@dataclass(frozen=True)
class CollectReply:
    host: str
    collectors: tuple[CollectorStatus, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "collectors": [c.to_json() for c in self.collectors]}

    @classmethod
    def from_json(cls, data: Any) -> CollectReply:
        data = _object(data, "a collect reply")
        raw = data.get("collectors", [])
        if not isinstance(raw, list):
            raise ProtocolError("collectors must be a list")
        return cls(_str(data, "host"), tuple(CollectorStatus.from_json(c) for c in raw))


# -- kernel evidence ------------------------------------------------------------------------

# Per run: each agent pushes samples to its host's list, and collectors live while the run's
# lease key does.
MAX_SAMPLES_KEPT = 20_000  # per run list: a runner that stopped draining cannot fill Redis
SAMPLES_TTL_S = 3600


EVIDENCE_KEY_PREFIX = "drillhall:evidence:"


def evidence_samples_key(run: str, host: str) -> str:
    """One list per run and host: an agent's Redis user may push to its own host's only."""
    return f"{EVIDENCE_KEY_PREFIX}{check_run_key(run)}:samples:{check_host_name(host)}"


def evidence_lease_key(run: str) -> str:
    return f"{EVIDENCE_KEY_PREFIX}{check_run_key(run)}:lease"


@dataclass(frozen=True)
class KernelSampleMessage:
    """One collector's sample for one interval, as an agent sends it to the run.

    ``t`` is the end of the interval; ``value`` a count (counters) or a mean in ms
    (latencies); ``count`` the events behind a mean; ``buckets`` a latency histogram
    ``{upper bound in ms: events}``; ``labels`` say more (``op: read``).
    """

    host: str
    collector: str
    t: float
    metric: str
    value: float
    source: str = "ebpf"
    count: int = 0
    buckets: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> KernelSampleMessage:
        data = _object(data, "a kernel sample")
        buckets = data.get("buckets") or {}
        labels = data.get("labels") or {}
        if not isinstance(buckets, Mapping) or not isinstance(labels, Mapping):
            raise ProtocolError("a kernel sample's buckets and labels must be objects")
        value = _opt_float(data, "value")
        t = _opt_float(data, "t")
        if value is None or t is None:
            raise ProtocolError("a kernel sample needs t and value")
        count = data.get("count") or 0
        return cls(
            host=_str(data, "host"),
            collector=str(data.get("collector") or ""),
            t=t,
            metric=_str(data, "metric"),
            value=value,
            source=str(data.get("source") or "ebpf"),
            count=int(count) if isinstance(count, int | float) else 0,
            buckets={str(k): int(v) for k, v in buckets.items()},
            labels={str(k): str(v) for k, v in labels.items()},
        )


@dataclass(frozen=True)
class EvidenceBeat:
    """Sent by a host every interval, with or without samples: where beats are missing, the
    evidence of that span was lost (Redis down, agent gone), which is not the same as a
    kernel that saw nothing."""

    host: str
    t: float
    interval: float

    def to_json(self) -> dict[str, Any]:
        return {"beat": {"host": self.host, "t": self.t, "interval": self.interval}}

    @classmethod
    def from_json(cls, data: Any) -> EvidenceBeat:
        body = _object(_object(data, "an evidence beat").get("beat"), "an evidence beat")
        t, interval = _opt_float(body, "t"), _opt_float(body, "interval")
        if t is None or interval is None:
            raise ProtocolError("an evidence beat needs t and interval")
        return cls(_str(body, "host"), t, interval)


def parse_evidence(data: Any) -> KernelSampleMessage | EvidenceBeat:
    """One entry of a run's evidence list: a beat or a kernel sample."""
    if isinstance(data, Mapping) and "beat" in data:
        return EvidenceBeat.from_json(data)
    return KernelSampleMessage.from_json(data)


# -- halt -----------------------------------------------------------------------------------

# "Halt all" in the broker's Redis, a copy of the server's database (see injector.halt):
# the halt in force (injector.halt.HaltState as JSON), and the newest halt released
# (injector.halt.HaltRelease as JSON), which is what lets an agent that kept a halt go.
HALT_KEY = "drillhall:halt"
HALT_RELEASED_KEY = "drillhall:halt:released"


# -- registration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HostRegistration:
    """What an agent tells the orchestrator about its host when its worker starts."""

    host: str
    address: str
    queue: str
    netns: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    services: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "address": self.address,
            "queue": self.queue,
            "netns": self.netns,
            "labels": dict(self.labels),
            "services": [dict(s) for s in self.services],
        }

    @classmethod
    def from_json(cls, data: Any) -> HostRegistration:
        data = _object(data, "a host registration")
        _fields(
            data,
            "the host registration",
            {"host", "address", "queue", "netns", "labels", "services"},
        )
        labels = data.get("labels") or {}
        services = data.get("services") or []
        if not isinstance(labels, Mapping) or not isinstance(services, list):
            raise ProtocolError("labels must be an object and services a list")
        if not all(isinstance(s, Mapping) for s in services):
            raise ProtocolError("each service must be an object")
        return cls(
            host=check_host_name(_str(data, "host")),
            address=_str(data, "address", ""),
            queue=_str(data, "queue", ""),
            netns=_str(data, "netns", ""),
            labels={str(k): str(v) for k, v in labels.items()},
            services=tuple(dict(s) for s in services),
        )


# -- signed requests ------------------------------------------------------------------------

# Requests that change what a host carries are signed (injector/signing.py). Ping only reads;
# collect reads kernel counters and stops by itself when the run's evidence lease goes; halt
# only ever reverts, and a kill switch must not depend on a key file being readable.
# RELEASE is signed too: a forged one would lift an agent's own copy of a halt. HALT is not:
# anyone may stop faults, and a kill switch must not depend on a readable key.
SIGNED_TASKS = frozenset(
    {AgentTask.ADMIT, AgentTask.APPLY, AgentTask.RENEW, AgentTask.REVERT, AgentTask.RELEASE}
)
SIGNATURE_SCHEME = "hmac-sha256/1"
# A signed request is good until its sender's own deadline plus this much: clocks of the
# orchestrator and the hosts may differ a little (keep them in NTP), never by minutes.
SIGNATURE_SLACK_SECONDS = 30.0
SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


def _finite(data: Mapping[str, Any], name: str) -> float:
    value = data.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ProtocolError(f"{name} must be a number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class SignedRequest:
    """One request for one host, as the orchestrator signed it.

    The signature covers ``signed_part()`` (scheme, task, host, expiry and the request itself)
    in the canonical JSON of injector.signing: a request cannot be moved to another host or
    task, kept for later, or changed on the way without the agent noticing.
    """

    task: str
    host: str
    expires: float  # Unix time
    body: dict[str, Any]
    signature: str = ""

    def signed_part(self) -> dict[str, Any]:
        return {
            "scheme": SIGNATURE_SCHEME,
            "task": self.task,
            "host": self.host,
            "expires": self.expires,
            "body": self.body,
        }

    def to_json(self) -> dict[str, Any]:
        return {"signed": self.signed_part(), "signature": self.signature}

    @classmethod
    def from_json(cls, data: Any) -> SignedRequest:
        data = _object(data, "a signed request")
        _fields(data, "the signed request", {"signed", "signature"})
        signature = data.get("signature")
        if not isinstance(signature, str) or not SIGNATURE.match(signature):
            raise ProtocolError("the signature must be 64 lowercase hex digits")
        signed = _object(data.get("signed"), "the signed part")
        _fields(signed, "the signed part", {"scheme", "task", "host", "expires", "body"})
        if signed.get("scheme") != SIGNATURE_SCHEME:
            raise ProtocolError(
                f"unknown signature scheme {signed.get('scheme')!r} (this agent speaks "
                f"{SIGNATURE_SCHEME})"
            )
        task = signed.get("task")
        if task not in {t.value for t in SIGNED_TASKS}:
            raise ProtocolError(f"{task!r} is not a task that is signed")
        body = signed.get("body")
        if not isinstance(body, dict):
            raise ProtocolError("the signed body must be an object")
        return cls(
            task=str(task),
            host=check_host_name(_str(signed, "host")),
            expires=_finite(signed, "expires"),
            body=dict(body),
            signature=signature,
        )


# -- run admission --------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalRecord:
    """Who allowed a run to fault protected hosts: the person, when, and exactly which
    playbook text (its version number and content hash)."""

    approved_by: str
    approved_at: float  # Unix time
    playbook: str
    version: int
    content_hash: str  # sha256 of the version's text, hex

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> ApprovalRecord:
        data = _object(data, "an approval record")
        _fields(
            data,
            "the approval record",
            {"approved_by", "approved_at", "playbook", "version", "content_hash"},
        )
        content_hash = _str(data, "content_hash")
        if not re.fullmatch(r"[0-9a-f]{64}", content_hash):
            raise ProtocolError("an approval's content_hash is a sha256 in hex")
        approved_by = _str(data, "approved_by")
        if not approved_by:
            raise ProtocolError("an approval names who approved")
        return cls(
            approved_by=approved_by,
            approved_at=_finite(data, "approved_at"),
            playbook=_str(data, "playbook"),
            version=_count(data, "version"),
            content_hash=content_hash,
        )


@dataclass(frozen=True)
class RunTicket:
    """The orchestrator telling one host's agent about a run before its first fault there:
    until ``expires`` the agent applies the run's faults with leases up to
    ``max_lease_seconds``, and on a protected host only with an ``approval``."""

    run: str
    host: str
    max_lease_seconds: float
    expires: float  # Unix time: the run's max_duration from its start, plus a margin
    approval: ApprovalRecord | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "host": self.host,
            "max_lease_seconds": self.max_lease_seconds,
            "expires": self.expires,
            "approval": None if self.approval is None else self.approval.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> RunTicket:
        data = _object(data, "a run ticket")
        _fields(data, "the run ticket", {"run", "host", "max_lease_seconds", "expires", "approval"})
        approval = data.get("approval")
        return cls(
            run=check_run_key(data.get("run")),
            host=check_host_name(_str(data, "host")),
            max_lease_seconds=check_lease(data.get("max_lease_seconds"), "max_lease_seconds"),
            expires=_finite(data, "expires"),
            approval=None if approval is None else ApprovalRecord.from_json(approval),
        )


@dataclass(frozen=True)
class AdmitReply:
    """The agent took the ticket: until ``expires``, leases up to ``max_lease_seconds`` (the
    smaller of the ticket's and the agent's own cap)."""

    run: str
    host: str
    expires: float
    max_lease_seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> AdmitReply:
        data = _object(data, "an admit reply")
        return cls(
            run=check_run_key(data.get("run")),
            host=_str(data, "host"),
            expires=_finite(data, "expires"),
            max_lease_seconds=_finite(data, "max_lease_seconds"),
        )
