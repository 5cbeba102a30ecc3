"""Probes: what the verifier samples during a drill, each from a chosen host.

Every probe has a ``name``, an interval (``every``) and optionally ``from: <target>``; the kind is
the one key among http, tcp, dns, canary and prometheus.

Every parameter is a checked value (a URL of an allowed scheme, HOST:PORT, a host name, a DNS
name, a DSN without local files or a password, the name of a secret), never a command line:
there is no ``command`` probe. It ran a program as the orchestrator with the orchestrator's
environment, and an allowlist of program names could not stop their options (``curl -o``,
``redis-cli --rdb``, ``nc -e``) from writing files, reading secrets or lifting the halt.
A playbook that still has one is told what to use.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

from drills.playbook.model.endpoints import (
    SECRET_HINT,
    DnsName,
    Host,
    HostPort,
    HttpUrl,
    PostgresDsn,
)
from drills.playbook.model.values import (
    Port,
    PositiveSeconds,
    Seconds,
    Slug,
    StatusCode,
    Text,
    strict_config,
)
from verifier.probes.canary import KEY_PREFIX_MAX, KEY_PREFIX_PATTERN, is_key_prefix
from verifier.probes.dns_lookup import RecordType
from verifier.probes.secret_refs import ENV_NAME_PATTERN, SECRET_NAME_PATTERN, env_name_refusal

PROBE_KINDS = ("http", "tcp", "dns", "canary", "prometheus")
PROBE_TAGS = tuple(f"{kind}-probe" for kind in PROBE_KINDS)
# Kinds that existed once and were taken out, with why and what to write instead.
REMOVED_PROBE_KINDS = {
    "command": (
        "the 'command' probe was removed for safety: it ran programs on the orchestrator, "
        "and their options could write files, read its secrets or lift the halt",
        "use a typed probe instead: dns (resolve a name at a server), tcp (connect to a "
        "port), http (a GET), canary (Redis or PostgreSQL writes) or prometheus (a query)",
    ),
}


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
    body_contains: Annotated[Text, Field(min_length=1)] | None = None


class HttpProbe(_ProbeBase):
    """Samples latency_ms, status and ok of one HTTP request."""

    http: HttpSpec


# -- tcp --
class TcpSpec(BaseModel):
    model_config = strict_config()

    host: Host  # a target name, an inventory host or an address
    port: Port
    timeout: PositiveSeconds = 1.0


class TcpProbe(_ProbeBase):
    """Samples the time to a TCP connect."""

    tcp: TcpSpec


# -- dns --
class DnsSpec(BaseModel):
    """One query over UDP to ``server``, never through the system's resolver: a DNS drill
    breaks that resolver, and the probe must still reach the server it watches."""

    model_config = strict_config()

    name: DnsName  # what to resolve
    server: Host  # a target name, an inventory host or an IP address; the plan needs an address
    port: Port = 53
    record_type: RecordType = Field(default="A", alias="type")
    timeout: PositiveSeconds = 1.0


class DnsProbe(_ProbeBase):
    """Samples whether ``name`` resolves: ok, the number of records (value), the rcode."""

    dns: DnsSpec


# -- canary --
def _key_prefix(value: str) -> str:
    if not is_key_prefix(value):
        raise PydanticCustomError(
            "key_prefix",
            "a canary key prefix is words of letters, digits, '_', '.' and '-' separated by ':' "
            "and ending in ':' (at most {most} characters), got '{text}'",
            {
                "most": KEY_PREFIX_MAX,
                "text": value if len(value) <= 40 else f"{value[:37]}...",
                "hint": "for example drill:orders: (the keys are drill:orders:1, :2, ...)",
            },
        )
    return value


KeyPrefix = Annotated[
    str,
    AfterValidator(_key_prefix),
    Field(json_schema_extra={"pattern": f"^{KEY_PREFIX_PATTERN}$", "maxLength": KEY_PREFIX_MAX}),
]


class RedisCanary(BaseModel):
    """Writes to one address, or to whichever master the Sentinels name (``sentinel``, with
    ``master``): the latter follows a failover the way a Sentinel-aware client does."""

    model_config = strict_config()

    address: HostPort | None = None
    sentinel: Annotated[list[HostPort], Field(min_length=1)] | None = None
    master: Slug | None = None
    key_prefix: KeyPrefix = "drillhall:canary:"

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


def _env_name(value: str) -> str:
    problem = env_name_refusal(value)
    if problem is not None:
        raise PydanticCustomError(
            "dsn_env", "{problem}", {"problem": problem, "hint": "for example SHOP_PG_DSN"}
        )
    return value


EnvName = Annotated[
    str, AfterValidator(_env_name), Field(json_schema_extra={"pattern": f"^{ENV_NAME_PATTERN}$"})
]


def _secret_name(value: str) -> str:
    if re.fullmatch(SECRET_NAME_PATTERN, value) is None:
        raise PydanticCustomError(
            "secret_name",
            "'{value}' is not a secret name: lowercase letters, digits, '.', '_' and '-' "
            "(up to 63 characters, starting with a letter or digit)",
            {"value": value, "hint": "for example shop-pg"},
        )
    return value


SecretName = Annotated[
    str,
    AfterValidator(_secret_name),
    Field(json_schema_extra={"pattern": f"^{SECRET_NAME_PATTERN}$"}),
]
_DSN_SOURCES = ("dsn", "dsn_env", "secret")


class PostgresCanary(BaseModel):
    """Where the canary connects: a DSN without a password (``dsn``), or the name of one that
    may hold a password: an environment variable the operator allows (``dsn_env``) or a secret
    in the secret store (``secret``), looked up on the orchestrator when the probe starts."""

    model_config = strict_config()

    dsn: Annotated[PostgresDsn, Field(min_length=1)] | None = None
    dsn_env: EnvName | None = None
    secret: SecretName | None = None

    @model_validator(mode="after")
    def _one_source(self) -> PostgresCanary:
        given = [key for key in _DSN_SOURCES if getattr(self, key) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "canary_postgres_source",
                "a PostgreSQL canary needs exactly one of 'dsn' (without a password), "
                "'dsn_env' or 'secret'{found}",
                {
                    "found": f"; found {' and '.join(given)}" if given else "",
                    "hint": SECRET_HINT,
                },
            )
        return self

    def source(self) -> dict[str, str]:
        """The planned probe's parameters: the DSN, or the reference that names it."""
        key = next(key for key in _DSN_SOURCES if getattr(self, key) is not None)
        return {key: str(getattr(self, key))}


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
    query: Annotated[Text, Field(min_length=1)]
    timeout: PositiveSeconds = 2.0


class PrometheusProbe(_ProbeBase):
    """Samples the value of an instant PromQL query."""

    prometheus: PrometheusSpec


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
    "dns": DnsProbe,
    "canary": CanaryProbe,
    "prometheus": PrometheusProbe,
}
PROBE_MODELS = {f"{kind}-probe": model for kind, model in _MODELS.items()}


def _no_removed_kind(value: Any) -> Any:
    """A removed kind is an issue at its key saying why and what instead, not "unknown"."""
    if isinstance(value, dict):
        for kind, (why, instead) in REMOVED_PROBE_KINDS.items():
            if kind in value:
                raise PydanticCustomError("probe_removed", why, {"at_key": kind, "hint": instead})
    return value


Probe = Annotated[
    Annotated[HttpProbe, Tag("http-probe")]
    | Annotated[TcpProbe, Tag("tcp-probe")]
    | Annotated[DnsProbe, Tag("dns-probe")]
    | Annotated[CanaryProbe, Tag("canary-probe")]
    | Annotated[PrometheusProbe, Tag("prometheus-probe")],
    Discriminator(
        _probe_kind,
        custom_error_type="probe_kind",
        custom_error_message="expected a probe with one of " + ", ".join(PROBE_KINDS),
    ),
    BeforeValidator(_no_removed_kind),
]
