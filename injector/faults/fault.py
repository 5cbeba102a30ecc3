"""What every fault is: a class with plan/apply/revert/is_active over a spec, and an error.

The spec itself (``FaultSpec``) is part of the agent protocol: ``injector.protocol``.

The catalogue of fault kinds lives in ``injector.faults.catalogue`` (it imports the fault
modules, which import this one); ``CATALOGUE_PATHS`` and ``build_fault`` are also reachable from
here, resolved on first use.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from injector.commands import netns_missing, valid_netns_name
from injector.protocol import FaultSpec


class FaultError(Exception):
    """A fault could not be validated, applied or reverted.

    ``permanent`` says whether retrying the same request can help. The agent's tasks turn it
    into a ``Refusal`` reply (injector.protocol), so it never crosses the broker as an exception.
    """

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message, permanent)
        self.message = message
        self.permanent = permanent

    def __str__(self) -> str:
        return self.message


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
