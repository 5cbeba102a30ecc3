"""What every fault is: a spec (plain data), a class with plan/apply/revert/is_active, an error.

The catalogue of fault kinds lives in ``injector.faults.catalogue`` (it imports the fault
modules, which import this one); ``CATALOGUE_PATHS`` and ``build_fault`` are also reachable from
here, resolved on first use.
"""

from __future__ import annotations

import math
import os
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from injector.commands import netns_missing, valid_netns_name

if TYPE_CHECKING:
    pass

# A lease longer than a day is a bug in the caller, not a drill.
MAX_LEASE_SECONDS = 24 * 3600.0


class FaultError(Exception):
    """A fault could not be validated, applied or reverted.

    ``permanent`` says whether retrying the same request can help. Both values are kept in
    ``args`` so that the error survives Celery's JSON round trip.
    """

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message, permanent)
        self.message = message
        self.permanent = permanent

    def __str__(self) -> str:
        return self.message


def _int_field(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    # bool is an int subclass; a True run id is a caller bug.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FaultError(f"spec.{name} must be a non-negative integer, got {value!r}", True)
    return value


@dataclass(frozen=True)
class FaultSpec:
    """One fault to inject: which run/step/attempt asked for it, what, and for how long at most."""

    run_id: int
    step: int
    attempt: int
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    lease_seconds: float = 30.0

    @property
    def fault_id(self) -> str:
        return f"r{self.run_id}-s{self.step}-a{self.attempt}"

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "step": self.step,
            "attempt": self.attempt,
            "kind": self.kind,
            "params": dict(self.params),
            "lease_seconds": self.lease_seconds,
        }

    @classmethod
    def from_json(cls, data: Any) -> FaultSpec:
        """Build a spec from a plain dict, refusing anything malformed (permanent FaultError)."""
        if not isinstance(data, dict):
            raise FaultError(f"a fault spec must be an object, got {type(data).__name__}", True)
        unknown = set(data) - {"run_id", "step", "attempt", "kind", "params", "lease_seconds"}
        if unknown:
            raise FaultError(f"unknown spec fields: {sorted(unknown)}", True)
        kind = data.get("kind")
        if not isinstance(kind, str) or not kind:
            raise FaultError(f"spec.kind must be a non-empty string, got {kind!r}", True)
        params = data.get("params", {})
        if not isinstance(params, dict):
            raise FaultError("spec.params must be an object", True)
        lease = data.get("lease_seconds")
        if (
            not isinstance(lease, int | float)
            or isinstance(lease, bool)
            or not math.isfinite(lease)
            or not 0 < lease <= MAX_LEASE_SECONDS
        ):
            raise FaultError(
                f"spec.lease_seconds must be in (0, {MAX_LEASE_SECONDS:.0f}], got {lease!r}", True
            )
        return cls(
            run_id=_int_field(data, "run_id"),
            step=_int_field(data, "step"),
            attempt=_int_field(data, "attempt"),
            kind=kind,
            params=dict(params),
            lease_seconds=float(lease),
        )


class Fault(ABC):
    """A fault on one host (optionally inside a network namespace).

    Subclasses validate their params in ``__init__`` (raising a permanent FaultError), so a
    fault object that exists is one that can be planned. ``revert`` must be idempotent and
    ``is_active`` must look at the system, not at memory.
    """

    kind: ClassVar[str]

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        if spec.kind != self.kind:
            raise FaultError(f"{type(self).__name__} cannot run a {spec.kind!r} spec", True)
        if netns is not None and not valid_netns_name(netns):
            raise FaultError(f"invalid network namespace name {netns!r}", True)
        self.spec = spec
        self.netns = netns

    @property
    def fault_id(self) -> str:
        return self.spec.fault_id

    def require_netns(self) -> None:
        """Refuse (permanently) to apply in a network namespace that is not there."""
        if netns_missing(self.netns):
            raise FaultError(f"network namespace {self.netns!r} does not exist", True)

    @property
    def workdir(self) -> Path:
        """Where this fault keeps its artifacts (pid files, mount points, configs).

        Named after the fault id under the agent's state directory, so that a janitor in
        another process, or a restarted agent, finds exactly what apply() left.
        """
        base = os.environ.get("DRILLHALL_AGENT_STATE") or str(
            Path(tempfile.gettempdir()) / "drillhall-agent"
        )
        return Path(base) / "artifacts" / self.fault_id

    @abstractmethod
    def plan(self) -> dict[str, Any]:
        """What apply() will do, without doing it: at least "mechanism" and "artifacts"."""

    @abstractmethod
    def apply(self) -> None:
        """Change the system. Applying the same fault twice leaves it applied once."""

    @abstractmethod
    def revert(self) -> None:
        """Undo apply(). Reverting a fault that is not (or no longer) applied is not an error."""

    @abstractmethod
    def is_active(self) -> bool:
        """Whether the system still carries this fault."""


def __getattr__(name: str) -> Any:
    # Resolved lazily: the catalogue imports the fault modules, which import this module.
    if name in {"CATALOGUE_PATHS", "build_fault", "fault_class"}:
        from injector.faults import catalogue

        return getattr(catalogue, name)  # type: ignore[no-any-return]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
