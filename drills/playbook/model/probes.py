"""Probes: what the verifier samples during a drill, each from a chosen host.

Every probe has a ``name``, an interval (``every``) and optionally ``from: <target>``; the kind is
the one key among http, tcp, canary, prometheus and command.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from drills.playbook.model.endpoints import HostPort, HttpUrl, PostgresDsn
from drills.playbook.model.values import (
    Port,
    PositiveSeconds,
    Seconds,
    Slug,
    StatusCode,
    did_you_mean,
    strict_config,
)
from verifier.probes.command import COMMAND_ALLOWLIST

PROBE_KINDS = ("http", "tcp", "canary", "prometheus", "command")
PROBE_TAGS = tuple(f"{kind}-probe" for kind in PROBE_KINDS)


class _ProbeBase(BaseModel):
    model_config = strict_config()

    name: Slug
    every: Annotated[Seconds, Field(ge=0.1)] = 0.5
    from_: str | None = Field(default=None, alias="from", min_length=1)


# -- http --
class HttpSpec(BaseModel):
    model_config = strict_config()

    url: HttpUrl
    timeout: PositiveSeconds = 1.0
    expect_status: list[StatusCode] | None = None
    body_contains: str | None = Field(default=None, min_length=1)


class HttpProbe(_ProbeBase):
    """Samples latency_ms, status and ok of one HTTP request."""

    http: HttpSpec


# -- tcp --
class TcpSpec(BaseModel):
    model_config = strict_config()

    host: str = Field(min_length=1)  # a target name, an inventory host or an address
    port: Port
    timeout: PositiveSeconds = 1.0


class TcpProbe(_ProbeBase):
    """Samples the time to a TCP connect."""

    tcp: TcpSpec


# -- canary --
class RedisCanary(BaseModel):
    """Writes to one address, or to whichever master the Sentinels name (``sentinel``, with
    ``master``): the latter follows a failover the way a Sentinel-aware client does."""

    model_config = strict_config()

    address: HostPort | None = None
    sentinel: Annotated[list[HostPort], Field(min_length=1)] | None = None
    master: Slug | None = None
    key_prefix: str = Field(default="drillhall:canary:", min_length=1)

    @model_validator(mode="after")
    def _one_way_in(self) -> RedisCanary:
        if (self.address is None) == (self.sentinel is None):
            raise PydanticCustomError(
                "canary_redis_endpoint",
                "a Redis canary needs exactly one of 'address' (HOST:PORT) or 'sentinel' "
                "(a list of HOST:PORT) with 'master'",
                {},
            )
        if self.sentinel is not None and self.master is None:
            raise PydanticCustomError(
                "canary_redis_master",
                "a Redis canary with 'sentinel' needs 'master', the name the Sentinels monitor",
                {},
            )
        if self.address is not None and self.master is not None:
            raise PydanticCustomError(
                "canary_redis_master",
                "'master' goes with 'sentinel'; with 'address' the canary writes to that address",
                {},
            )
        return self


class PostgresCanary(BaseModel):
    model_config = strict_config()

    dsn: Annotated[PostgresDsn, Field(min_length=1)]


class CanarySpec(BaseModel):
    """A writer/reader pair: acknowledged writes that cannot be read back are the RPO."""

    model_config = strict_config()

    redis: RedisCanary | None = None
    postgres: PostgresCanary | None = None

    @model_validator(mode="after")
    def _one_store(self) -> CanarySpec:
        if (self.redis is None) == (self.postgres is None):
            raise PydanticCustomError(
                "canary_store", "a canary needs exactly one of 'redis' or 'postgres'", {}
            )
        return self


class CanaryProbe(_ProbeBase):
    canary: CanarySpec


# -- prometheus --
class PrometheusSpec(BaseModel):
    model_config = strict_config()

    url: HttpUrl
    query: str = Field(min_length=1)
    timeout: PositiveSeconds = 2.0


class PrometheusProbe(_ProbeBase):
    """Samples the value of an instant PromQL query."""

    prometheus: PrometheusSpec


# -- command --
def _allowed_argv(argv: list[str]) -> list[str]:
    binary = argv[0]
    if binary not in COMMAND_ALLOWLIST:
        base = binary.rsplit("/", 1)[-1]
        hint = (
            f"write '{base}' without a path; it is looked up on PATH"
            if base in COMMAND_ALLOWLIST
            else did_you_mean(binary, COMMAND_ALLOWLIST)
        )
        raise PydanticCustomError(
            "command_not_allowed",
            "'{binary}' is not an allowed probe command; allowed: {allowed}",
            {"binary": binary, "allowed": ", ".join(COMMAND_ALLOWLIST), "hint": hint, "at": 0},
        )
    return argv


class CommandSpec(BaseModel):
    """Runs ``argv`` (no shell); a zero exit status is a good sample."""

    model_config = strict_config()

    argv: Annotated[list[str], Field(min_length=1), AfterValidator(_allowed_argv)]
    timeout: PositiveSeconds = 5.0


class CommandProbe(_ProbeBase):
    command: CommandSpec


def _probe_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for kind in PROBE_KINDS:
            if kind in value:
                return f"{kind}-probe"
        return None
    for kind, model in _MODELS.items():
        if isinstance(value, model):
            return f"{kind}-probe"
    return None


_MODELS: dict[str, type[_ProbeBase]] = {
    "http": HttpProbe,
    "tcp": TcpProbe,
    "canary": CanaryProbe,
    "prometheus": PrometheusProbe,
    "command": CommandProbe,
}
PROBE_MODELS = {f"{kind}-probe": model for kind, model in _MODELS.items()}

Probe = Annotated[
    Annotated[HttpProbe, Tag("http-probe")]
    | Annotated[TcpProbe, Tag("tcp-probe")]
    | Annotated[CanaryProbe, Tag("canary-probe")]
    | Annotated[PrometheusProbe, Tag("prometheus-probe")]
    | Annotated[CommandProbe, Tag("command-probe")],
    Discriminator(
        _probe_kind,
        custom_error_type="probe_kind",
        custom_error_message="expected a probe with one of http, tcp, canary, prometheus, command",
    ),
]
