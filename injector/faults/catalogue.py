"""The closed catalogue of fault kinds this agent can inject.

A registry of dotted paths, imported on first use: a host only loads the machinery (FUSE,
proxies, DNS) of the faults it is asked for, and a kind whose module is missing is refused
with a clear, permanent error instead of breaking the agent at start.
"""

from __future__ import annotations

import importlib

from injector.faults.fault import Fault, FaultError
from injector.protocol import FaultSpec

CATALOGUE_PATHS: dict[str, str] = {
    "network.partition": "injector.faults.partition:PartitionFault",
    "network.latency": "injector.faults.latency:LatencyFault",
    "network.loss": "injector.faults.loss:LossFault",
    "network.bandwidth": "injector.faults.bandwidth:BandwidthFault",
    "network.timeout": "injector.faults.timeout:TimeoutFault",
    "network.reset": "injector.faults.reset:ResetFault",
    "network.dns": "injector.faults.dns:DnsFault",
    "http.error": "injector.faults.http_error:HttpErrorFault",
    "io.delay": "injector.faults.io:IoDelayFault",
    "io.error": "injector.faults.io:IoErrorFault",
    "process.kill": "injector.faults.process:ProcessKillFault",
    "process.pause": "injector.faults.process:ProcessPauseFault",
    "stress.cpu": "injector.faults.stress:StressCpuFault",
    "stress.memory": "injector.faults.stress:StressMemoryFault",
}


def fault_class(kind: str) -> type[Fault]:
    path = CATALOGUE_PATHS.get(kind)
    if path is None:
        known = ", ".join(sorted(CATALOGUE_PATHS))
        raise FaultError(f"unknown fault kind {kind!r} (known: {known})", True)
    module_name, _, class_name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise FaultError(
            f"fault kind {kind!r} is not available on this agent: {exc}", True
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, Fault) and cls.kind == kind):
        raise FaultError(f"{path} is not the {kind!r} fault", True)
    return cls


def build_fault(spec: FaultSpec, netns: str | None = None) -> Fault:
    """The fault object for spec, or a permanent FaultError for a kind it cannot run."""
    return fault_class(spec.kind)(spec, netns)
