"""The closed catalogue of fault kinds this agent can inject."""

from __future__ import annotations

from injector.faults.base import Fault, FaultError, FaultSpec
from injector.faults.partition import PartitionFault

CATALOGUE: dict[str, type[Fault]] = {
    PartitionFault.kind: PartitionFault,
}


def build_fault(spec: FaultSpec, netns: str | None = None) -> Fault:
    """The fault object for spec, or a permanent FaultError for a kind outside the catalogue."""
    try:
        fault_class = CATALOGUE[spec.kind]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        raise FaultError(f"unknown fault kind {spec.kind!r} (known: {known})", True) from None
    return fault_class(spec, netns)
