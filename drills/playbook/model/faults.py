"""The closed catalogue of faults, one model per kind with its typed parameters.

In YAML a fault step is flat: ``{fault: network.latency, target: app, latency: 150ms, ...}``.
Every kind shares ``name``, ``fault`` and ``target`` (``FaultStep``) and adds its own parameters;
``isinstance(step, FaultStep)`` holds for all of them. Each kind also says what the agent on a
host receives for it (``agent_params``; its injector class in ``injector/faults/`` parses exactly
that), ``MECHANISM``, what the agent is expected to use on the host (shown in plans), and for
kinds the kernel collectors can see, ``PROOF_COLLECTORS`` and ``proof``: which collectors see the
fault and what evidence of it they must record (judged by ``verifier.proof.no_effect``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal, Protocol, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from drills.playbook.model.collectors import CollectorName
from drills.playbook.model.values import (
    AbsolutePath,
    Address,
    Line,
    Percent,
    Port,
    PositiveSeconds,
    Seconds,
    Size,
    TargetNames,
    did_you_mean,
    strict_config,
)
from drills.playbook.text import hidden_character, printable
from verifier.proof import IO_OPERATIONS, SLOW_SHARE, Proof

FaultName = Literal[
    "network.partition",
    "network.latency",
    "network.loss",
    "network.bandwidth",
    "network.timeout",
    "network.reset",
    "network.dns",
    "http.error",
    "io.delay",
    "io.error",
    "process.kill",
    "process.pause",
    "stress.cpu",
    "stress.memory",
]
# The closed catalogue, in one place: the names come from the Literal above.
FAULTS: tuple[str, ...] = get_args(FaultName)

RATE_PATTERN = r"^[0-9]+(\.[0-9]+)?(kbit|mbit|gbit)$"
# A name glob never starts with '-' (it reaches the stub resolver's command line) and is no
# longer than a DNS name; injector/faults/dns.py checks the same.
GLOB_PATTERN = r"^[A-Za-z0-9*?_.][A-Za-z0-9*?._-]{0,252}$"
# A cgroup path as the kernel and systemd name cgroups (``system.slice/getty@tty1.service``,
# ``\x2d`` escapes), absolute or relative to the cgroup root.
CGROUP_PATTERN = r"^/?[A-Za-z0-9_.@:+\\-]+(/[A-Za-z0-9_.@:+\\-]+)*$"
# A URL path prefix: printable ASCII without spaces, as in a request line.
URL_PATH_PATTERN = r"^/[\x21-\x7e]{0,1023}$"
HTTP_METHODS = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
IoOperation = Literal["read", "write", "fsync"]
# A partition, loss or resets show as failed connects, retransmits or resets (each kind's
# ``proof`` says which); the side that connects is where a partition shows, so these run on
# the peers too.
TCP_EVIDENCE: tuple[CollectorName, ...] = ("tcp_connect", "tcp_resets", "tcp_retransmits")


def known_fault(value: Any) -> Any:
    """Before-validator for fault names: lists the catalogue, with a did-you-mean hint."""
    if not isinstance(value, str):
        raise PydanticCustomError("fault_name", "expected a fault name like network.latency", {})
    if value not in FAULTS:
        raise PydanticCustomError(
            "unknown_fault",
            "unknown fault '{name}'; known faults: {known}",
            {"name": value, "known": ", ".join(FAULTS), "hint": did_you_mean(value, FAULTS)},
        )
    return value


KnownFault = Annotated[FaultName, BeforeValidator(known_fault)]


def _needs_one_of(model: BaseModel, *fields: str) -> None:
    if all(getattr(model, name) in (None, []) for name in fields):
        keys = " or ".join(f"'{(type(model).model_fields[name].alias or name)}'" for name in fields)
        kind = getattr(model, "fault", "this fault")
        raise PydanticCustomError("needs_one_of", "{kind} needs {keys}", dict(kind=kind, keys=keys))


class FaultContext(Protocol):
    """What a fault step needs from the plan to write its agent's parameters.

    The planner passes one per host the step lands on, so a model never sees the inventory.
    """

    @property
    def host(self) -> str:
        """The inventory name of the host the fault lands on."""
        ...

    def peer_addresses(self, targets: Sequence[str] | None) -> list[str]:
        """The addresses of the hosts ``targets`` resolve to, except this host, each once."""
        ...


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


class FaultStep(BaseModel):
    """What every fault step has; each kind below adds its parameters."""

    model_config = strict_config()
    MECHANISM: ClassVar[str] = ""
    # The kernel collectors that can see this kind's effect. The planner runs them on the
    # fault's host and its peers whatever the playbook asks: a drill that injected nothing must
    # not pass silently. A kind that names them must say what they must record (``proof``).
    PROOF_COLLECTORS: ClassVar[tuple[CollectorName, ...]] = ()

    name: Line | None = None
    fault: str
    target: str = Field(min_length=1)

    @property
    def seconds(self) -> float:
        """How long the fault holds (0 for instantaneous ones such as process.kill)."""
        value = getattr(self, "duration", 0.0)
        return float(value)

    def mechanism(self) -> str:
        return self.MECHANISM

    def agent_params(self, ctx: FaultContext) -> dict[str, Any]:
        """Exactly what the agent on ``ctx.host`` receives: "host" first (it routes the spec),
        then the kind's own parameters. Plain JSON values only: it crosses Celery as JSON."""
        return {"host": ctx.host, **self.kind_params(ctx)}

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        """This kind's parameters for its injector class; every kind defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not say what its agent receives")

    @classmethod
    def proof(cls, params: Mapping[str, Any]) -> Proof | None:
        """The evidence a fault of this kind with agent ``params`` must leave while it is on,
        or None when the collectors cannot see the kind (latency through a proxy, DNS,
        processes, stress). A classmethod: the runner judges planned faults, which keep only
        the kind and the agent params."""
        return None


# -- network --
class NetworkPartition(FaultStep):
    """Drop traffic between the target and its peers (targets or literal addresses)."""

    MECHANISM = "nftables"
    PROOF_COLLECTORS = TCP_EVIDENCE
    fault: Literal["network.partition"]
    from_: TargetNames | None = Field(default=None, alias="from")
    addresses: Annotated[list[Address], Field(min_length=1)] | None = None
    ports: Annotated[list[Port], Field(min_length=1)] | None = None
    direction: Literal["both", "in", "out"] = "both"
    duration: PositiveSeconds

    @model_validator(mode="after")
    def _peers(self) -> NetworkPartition:
        _needs_one_of(self, "from_", "addresses")
        return self

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        peers = ctx.peer_addresses(self.from_) + list(self.addresses or [])
        params: dict[str, Any] = {"peers": _unique(peers), "direction": self.direction}
        if self.ports:
            params["ports"] = list(self.ports)
        return params

    @classmethod
    def proof(cls, params: Mapping[str, Any]) -> Proof | None:
        # What dropped packets cause: unanswered connects and unacknowledged segments. Not
        # resets: a drop never sends one, and on a busy host some socket somewhere is reset
        # every few seconds (an application closing with unread data, a Sentinel dropping a
        # slow link), which read as the effect of a partition that cut nothing.
        return Proof(("tcp_connect_failures", "tcp_retransmits"))


def _destinations(
    ctx: FaultContext, to: list[str] | None, ports: list[int] | None
) -> dict[str, Any]:
    """Where latency or loss applies: the ``to`` targets' addresses and/or the ports."""
    params: dict[str, Any] = {}
    if to:
        params["destinations"] = ctx.peer_addresses(to)
    if ports:
        params["ports"] = list(ports)
    return params


class NetworkLatency(FaultStep):
    MECHANISM = "netem-or-proxy"
    fault: Literal["network.latency"]
    to: TargetNames | None = None
    ports: Annotated[list[Port], Field(min_length=1)] | None = None
    latency: PositiveSeconds
    jitter: Annotated[Seconds, Field(ge=0)] = 0.0
    duration: PositiveSeconds

    @model_validator(mode="after")
    def _where(self) -> NetworkLatency:
        _needs_one_of(self, "to", "ports")
        return self

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        where = _destinations(ctx, self.to, self.ports)
        return {**where, "latency": self.latency, "jitter": self.jitter}


class NetworkLoss(FaultStep):
    MECHANISM = "nftables"
    PROOF_COLLECTORS = TCP_EVIDENCE
    fault: Literal["network.loss"]
    to: TargetNames | None = None
    ports: Annotated[list[Port], Field(min_length=1)] | None = None
    loss: Percent
    duration: PositiveSeconds

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        return {**_destinations(ctx, self.to, self.ports), "loss": self.loss}

    @classmethod
    def proof(cls, params: Mapping[str, Any]) -> Proof | None:
        return Proof(("tcp_retransmits",))


def _rate(value: str) -> str:
    if not re.fullmatch(RATE_PATTERN, value):
        raise PydanticCustomError(
            "rate", "expected a rate like 512kbit, 1mbit or 1gbit, got '{text}'", {"text": value}
        )
    return value


class NetworkBandwidth(FaultStep):
    MECHANISM = "tc"
    fault: Literal["network.bandwidth"]
    rate: Annotated[str, AfterValidator(_rate), Field(json_schema_extra={"pattern": RATE_PATTERN})]
    duration: PositiveSeconds

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        return {"rate": self.rate}


class NetworkTimeout(FaultStep):
    """Connections hang: accepted and held by a proxy, or SYNs dropped."""

    MECHANISM = "proxy"
    fault: Literal["network.timeout"]
    ports: Annotated[list[Port], Field(min_length=1)]
    mode: Literal["hold", "drop_syn"] = "hold"
    duration: PositiveSeconds

    def mechanism(self) -> str:
        return "nftables" if self.mode == "drop_syn" else "proxy"

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        return {"ports": list(self.ports), "mode": self.mode}


class NetworkReset(FaultStep):
    """New connections to the ports are answered with a TCP reset."""

    MECHANISM = "nftables"
    PROOF_COLLECTORS = TCP_EVIDENCE
    fault: Literal["network.reset"]
    ports: Annotated[list[Port], Field(min_length=1)]
    duration: PositiveSeconds

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        return {"ports": list(self.ports)}

    @classmethod
    def proof(cls, params: Mapping[str, Any]) -> Proof | None:
        return Proof(("tcp_resets_received", "tcp_resets_sent"))


def _glob(value: str) -> str:
    if not re.fullmatch(GLOB_PATTERN, value):
        raise PydanticCustomError(
            "glob",
            "expected a domain pattern like *.internal or db1.lab (letters, digits and . _ - * ?, "
            "not starting with '-', up to 253), got '{text}'",
            {"text": value if len(value) <= 60 else f"{value[:57]}..."},
        )
    return value


class NetworkDns(FaultStep):
    MECHANISM = "stub-resolver"
    fault: Literal["network.dns"]
    pattern: Annotated[
        str, AfterValidator(_glob), Field(json_schema_extra={"pattern": GLOB_PATTERN})
    ] = "*"
    answer: Literal["servfail", "nxdomain", "timeout"]
    duration: PositiveSeconds

    def mechanism(self) -> str:
        return "nftables" if self.answer == "timeout" else "stub-resolver"

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        return {"pattern": self.pattern, "answer": self.answer}


# -- http --
def _path_prefix(value: str) -> str:
    if not re.fullmatch(URL_PATH_PATTERN, value):
        raise PydanticCustomError(
            "path_prefix",
            "expected a URL path starting with '/' (printable ASCII, no spaces, up to 1024), "
            "got '{text}'",
            {"text": printable(value if len(value) <= 60 else f"{value[:57]}...")},
        )
    return value


class HttpError(FaultStep):
    """A proxy in front of ``port`` answers a share of requests with an error (or aborts them)."""

    MECHANISM = "proxy"
    fault: Literal["http.error"]
    port: Port
    status: Annotated[int, Field(ge=400, le=599)] = 503
    share: Percent = 100.0
    methods: Annotated[list[HTTP_METHODS], Field(min_length=1)] | None = None
    path: Annotated[
        str, AfterValidator(_path_prefix), Field(json_schema_extra={"pattern": URL_PATH_PATTERN})
    ] = "/"
    abort: bool = False
    delay: PositiveSeconds | None = None
    duration: PositiveSeconds

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        params: dict[str, Any] = {"port": self.port, "status": self.status, "share": self.share,
                                  "path": self.path, "abort": self.abort}  # fmt: skip
        if self.methods:
            params["methods"] = list(self.methods)
        if self.delay is not None:
            params["delay"] = self.delay
        return params


# -- io --
_ALL_OPERATIONS: list[IoOperation] = ["read", "write", "fsync"]


def _proved_operations(params: Mapping[str, Any]) -> list[str]:
    """The operations an IO fault acts on (all when its params name none), in a fixed order."""
    wanted = params.get("operations") or IO_OPERATIONS
    return [op for op in IO_OPERATIONS if op in wanted]


class IoDelay(FaultStep):
    MECHANISM = "fuse"
    PROOF_COLLECTORS = ("syscall_latency",)
    fault: Literal["io.delay"]
    path: AbsolutePath
    delay: PositiveSeconds
    share: Percent = 100.0
    operations: Annotated[list[IoOperation], Field(min_length=1)] = _ALL_OPERATIONS
    duration: PositiveSeconds

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        return {"path": self.path, "delay": self.delay, "share": self.share,
                "operations": list(self.operations)}  # fmt: skip

    @classmethod
    def proof(cls, params: Mapping[str, Any]) -> Proof | None:
        """Syscalls of its operations on its host that took about the delay or longer."""
        delay_ms = float(params.get("delay", 0.0)) * 1000.0
        latencies = tuple(f"{op}_latency_ms" for op in _proved_operations(params))
        return Proof(histograms=latencies, slow_ms=round(delay_ms * SLOW_SHARE, 3))


class IoError(FaultStep):
    MECHANISM = "fuse"
    PROOF_COLLECTORS = ("syscall_latency",)
    fault: Literal["io.error"]
    path: AbsolutePath
    error: Literal["EIO", "ENOSPC"] = "EIO"
    share: Percent = 100.0
    operations: Annotated[list[IoOperation], Field(min_length=1)] = _ALL_OPERATIONS
    duration: PositiveSeconds

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        return {"path": self.path, "error": self.error, "share": self.share,
                "operations": list(self.operations)}  # fmt: skip

    @classmethod
    def proof(cls, params: Mapping[str, Any]) -> Proof | None:
        """Failed syscalls of its operations on its host."""
        return Proof(tuple(f"{op}_errors" for op in _proved_operations(params)))


# -- processes --
def _command_name(value: str) -> str:
    if "/" in value or hidden_character(value) is not None or len(value) > COMMAND_NAME_MAX:
        raise PydanticCustomError(
            "command_name",
            "expected a command name like redis-server (no '/', no control characters, up to "
            "{most}), got '{text}'",
            {"most": COMMAND_NAME_MAX, "text": printable(value[:60])},
        )
    return value


def _cgroup(value: str) -> str:
    names = value.removeprefix("/").split("/")
    if (
        not re.fullmatch(CGROUP_PATTERN, value)
        or ".." in names
        or any(len(name) > 255 for name in names)
        or len(value) > 1024
    ):
        raise PydanticCustomError(
            "cgroup",
            "expected a cgroup path like system.slice/redis.service (names of letters, digits "
            "and _ . @ : + - \\ up to 255 each, no '..'), got '{text}'",
            {"text": printable(value[:60])},
        )
    return value


COMMAND_NAME_MAX = 255
CommandName = Annotated[str, Field(min_length=1), AfterValidator(_command_name)]
CgroupPath = Annotated[str, Field(min_length=1), AfterValidator(_cgroup)]


class ProcessMatch(BaseModel):
    """Exactly one way to find the processes: by name, by pid file or by cgroup."""

    model_config = strict_config()

    name: CommandName | None = None
    pidfile: AbsolutePath | None = None
    cgroup: CgroupPath | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ProcessMatch:
        given = [key for key in ("name", "pidfile", "cgroup") if getattr(self, key) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "process_match",
                "match needs exactly one of 'name', 'pidfile' or 'cgroup'{found}",
                {"found": f", found {' and '.join(given)}" if given else ""},
            )
        return self

    def agent_params(self) -> dict[str, str]:
        """The one way given, as the agent's ``match`` parameter."""
        return {key: value for key, value in self.model_dump().items() if value is not None}


class ProcessKill(FaultStep):
    """Instantaneous: the plan gives it no duration; recovery is up to the system."""

    MECHANISM = "signal"
    fault: Literal["process.kill"]
    match: ProcessMatch
    signal: Literal["SIGKILL", "SIGTERM"] = "SIGKILL"
    count: Annotated[int, Field(ge=1)] = 1

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        return {"match": self.match.agent_params(), "signal": self.signal, "count": self.count}


class ProcessPause(FaultStep):
    """SIGSTOP for the duration, then SIGCONT."""

    MECHANISM = "signal"
    fault: Literal["process.pause"]
    match: ProcessMatch
    duration: PositiveSeconds

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        return {"match": self.match.agent_params()}


# -- stress --
class StressCpu(FaultStep):
    MECHANISM = "stress"
    fault: Literal["stress.cpu"]
    cores: Annotated[int, Field(ge=1, le=64)]
    load: Percent = 100.0
    duration: PositiveSeconds

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        return {"cores": self.cores, "load": self.load}


class StressMemory(FaultStep):
    MECHANISM = "stress"
    fault: Literal["stress.memory"]
    bytes: Annotated[Size, Field(le=64 * 1024**3)]
    duration: PositiveSeconds

    def kind_params(self, ctx: FaultContext) -> dict[str, Any]:
        return {"bytes": self.bytes}


class UnknownFault(BaseModel):
    """Stands in for a step whose fault is not in the catalogue: it only reports that."""

    model_config = ConfigDict(extra="allow", frozen=True)

    fault: KnownFault


CATALOGUE: dict[str, type[FaultStep]] = {
    "network.partition": NetworkPartition,
    "network.latency": NetworkLatency,
    "network.loss": NetworkLoss,
    "network.bandwidth": NetworkBandwidth,
    "network.timeout": NetworkTimeout,
    "network.reset": NetworkReset,
    "network.dns": NetworkDns,
    "http.error": HttpError,
    "io.delay": IoDelay,
    "io.error": IoError,
    "process.kill": ProcessKill,
    "process.pause": ProcessPause,
    "stress.cpu": StressCpu,
    "stress.memory": StressMemory,
}
UNKNOWN_FAULT_TAG = "unknown-fault"


def proof_of(kind: str, params: Mapping[str, Any]) -> Proof | None:
    """The proof of effect of a planned fault (kind and agent params), None when there is none."""
    model = CATALOGUE.get(kind)
    return None if model is None else model.proof(params)


def _fault_kind(value: Any) -> str:
    name = value.get("fault") if isinstance(value, dict) else getattr(value, "fault", None)
    return name if isinstance(name, str) and name in CATALOGUE else UNKNOWN_FAULT_TAG


Fault = Annotated[
    Annotated[NetworkPartition, Tag("network.partition")]
    | Annotated[NetworkLatency, Tag("network.latency")]
    | Annotated[NetworkLoss, Tag("network.loss")]
    | Annotated[NetworkBandwidth, Tag("network.bandwidth")]
    | Annotated[NetworkTimeout, Tag("network.timeout")]
    | Annotated[NetworkReset, Tag("network.reset")]
    | Annotated[NetworkDns, Tag("network.dns")]
    | Annotated[HttpError, Tag("http.error")]
    | Annotated[IoDelay, Tag("io.delay")]
    | Annotated[IoError, Tag("io.error")]
    | Annotated[ProcessKill, Tag("process.kill")]
    | Annotated[ProcessPause, Tag("process.pause")]
    | Annotated[StressCpu, Tag("stress.cpu")]
    | Annotated[StressMemory, Tag("stress.memory")]
    | SkipJsonSchema[Annotated[UnknownFault, Tag(UNKNOWN_FAULT_TAG)]],
    Discriminator(_fault_kind),
]
