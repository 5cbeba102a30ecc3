"""What every probe is, and how a planned probe becomes a running one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from verifier.probes.canary import CanaryUnavailable, RedisCanary
from verifier.probes.dns_lookup import DnsProbe
from verifier.probes.http import HttpProbe
from verifier.probes.prometheus import PrometheusProbe
from verifier.probes.secret_refs import SecretError, SecretRef, SecretStore
from verifier.probes.tcp_port import TcpProbe
from verifier.windows import Sample


class ProbeSpec(Protocol):
    """What ``build_probe`` reads of a planned probe. Defined here so that the verifier needs
    nothing from the engine; the planner's ``PlannedProbe`` is one."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...  # "http" | "tcp" | "dns" | "canary" | "prometheus"
    @property
    def params(self) -> Mapping[str, Any]: ...
    @property
    def url(self) -> str | None: ...
    @property
    def timeout(self) -> float: ...
    @property
    def expect_status(self) -> tuple[int, ...] | None: ...
    @property
    def netns(self) -> str: ...  # the from host's network namespace, "" for this one


@runtime_checkable
class Probe(Protocol):
    """One observation per call; sample() never raises for a failure of the observed system."""

    @property
    def name(self) -> str: ...

    def sample(self) -> Sample: ...


class ProbeConfigError(ValueError):
    """A planned probe cannot be built here; raised at preflight, before any fault."""


def build_probe(planned: ProbeSpec, secrets: SecretStore | None = None) -> Probe:
    """The runnable probe for ``planned``; raises ProbeConfigError saying why it cannot run.

    A secret the probe names is looked up here, on the orchestrator at preflight, in
    ``secrets`` (by default the store the environment describes: secret_refs.py)."""
    params = planned.params
    try:
        if planned.kind == "http":
            if planned.url is None:
                raise ProbeConfigError(f"probe {planned.name}: an http probe needs a url")
            body_contains = params.get("body_contains")
            return HttpProbe(
                planned.name,
                planned.url,
                planned.timeout,
                planned.expect_status,
                None if body_contains is None else str(body_contains),
            )
        if planned.kind == "tcp":
            return TcpProbe(planned.name, str(params["host"]), int(params["port"]), planned.timeout)
        if planned.kind == "dns":
            return DnsProbe(
                planned.name,
                str(params["name"]),
                str(params["server"]),
                int(params["port"]),
                str(params["type"]),
                planned.timeout,
            )
        if planned.kind == "canary":
            if params.get("store") == "postgres":
                ref = SecretRef.from_params(params)
                if ref is None:
                    return postgres_canary(planned, str(params["dsn"]))
                store = secrets if secrets is not None else SecretStore.from_environ()
                return postgres_canary(planned, store.resolve(ref), ref)
            return RedisCanary(
                planned.name,
                params.get("address"),
                str(params.get("key_prefix") or "drillhall:canary:"),
                planned.timeout,
                planned.netns,
                sentinel=params.get("sentinel"),
                master=params.get("master"),
            )
        if planned.kind == "prometheus":
            return PrometheusProbe(
                planned.name, str(params["url"]), str(params["query"]), planned.timeout
            )
    except ProbeConfigError:
        raise
    except CanaryUnavailable as exc:
        raise ProbeConfigError(str(exc)) from None
    except SecretError as exc:
        raise ProbeConfigError(f"probe {planned.name}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        problem = f"probe {planned.name} ({planned.kind}): bad parameters: {exc}"
        raise ProbeConfigError(problem) from None
    if planned.kind == "command":
        # A plan stored before the kind was removed: refused before any fault, saying why.
        raise ProbeConfigError(
            f"probe {planned.name}: the command probe was removed for safety (it ran programs "
            "on the orchestrator); change the playbook to a dns, tcp or http probe and run it again"
        )
    raise ProbeConfigError(f"probe {planned.name}: unknown probe kind {planned.kind!r}")


def postgres_canary(planned: ProbeSpec, dsn: str, ref: SecretRef | None = None) -> Probe:
    """A PostgreSQL canary; psycopg is imported only here, so without it only this kind fails."""
    try:
        from verifier.probes.pgcanary import PostgresCanary
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("psycopg"):
            raise
        raise CanaryUnavailable(
            f"probe {planned.name}: a PostgreSQL canary needs the psycopg package, which is "
            "not installed (pip install 'psycopg[binary]'); use a Redis canary or install it"
        ) from None
    dsn_from = None if ref is None else ref.describe()
    return PostgresCanary(planned.name, dsn, planned.timeout, planned.netns, dsn_from=dsn_from)


def close_probe(probe: Probe) -> None:
    """Release what a probe holds (connections), for probes that hold anything."""
    close = getattr(probe, "close", None)
    if callable(close):
        close()
