"""The plan: which fault lands on which host, with what parameters, for how long.

Pure: takes the parsed playbook and an inventory snapshot, returns a plan or raises
PlanError naming what could not be resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from drills.playbook.model import FaultStep, Playbook, WaitStep


class PlanError(Exception):
    pass


@dataclass(frozen=True)
class HostInfo:
    name: str
    address: str
    queue: str
    netns: str = ""
    protected: bool = False


@dataclass(frozen=True)
class PlannedFault:
    kind: str
    host: str
    queue: str
    params: dict[str, Any]


@dataclass(frozen=True)
class PlannedStep:
    index: int
    name: str
    kind: str  # "wait" | "fault"
    duration: float
    target: str | None = None
    fault: PlannedFault | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.index,
            "name": self.name,
            "kind": self.kind,
            "duration": self.duration,
        }
        if self.fault is not None:
            out.update(fault=self.fault.kind, target=self.target, host=self.fault.host)
        return out


@dataclass(frozen=True)
class PlannedProbe:
    name: str
    url: str
    timeout: float
    every: float
    expect_status: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Plan:
    steps: list[PlannedStep]
    probes: list[PlannedProbe]
    hosts: list[str] = field(default_factory=list)

    @property
    def expected_seconds(self) -> float:
        return sum(step.duration for step in self.steps)


def resolve_plan(playbook: Playbook, inventory: dict[str, HostInfo]) -> Plan:
    def host_of(target: str) -> HostInfo:
        binding = playbook.targets[target]
        info = inventory.get(binding.host)
        if info is None:
            known = ", ".join(sorted(inventory)) or "none"
            raise PlanError(
                f"target {target!r} is bound to host {binding.host!r}, which is not in the "
                f"inventory (known hosts: {known}); for the lab run `drillhall lab up`"
            )
        return info

    steps: list[PlannedStep] = []
    hosts: list[str] = []
    for index, step in enumerate(playbook.steps, start=1):
        if isinstance(step, WaitStep):
            steps.append(PlannedStep(index, step.name or f"wait {step.wait:g}s", "wait", step.wait))
            continue
        assert isinstance(step, FaultStep)
        host = host_of(step.target)
        if host.protected:
            raise PlanError(f"host {host.name!r} is protected; drills may not fault it")
        peers = [host_of(name).address for name in step.from_]
        fault = PlannedFault(
            kind=step.fault,
            host=host.name,
            queue=host.queue,
            params={"host": host.name, "peers": peers, "direction": step.direction},
        )
        steps.append(
            PlannedStep(
                index,
                step.name or f"{step.fault} on {step.target}",
                "fault",
                step.duration,
                target=step.target,
                fault=fault,
            )
        )
        if host.name not in hosts:
            hosts.append(host.name)

    probes = [
        PlannedProbe(
            name=probe.name,
            url=_resolve_url(probe.http.url, playbook, inventory),
            timeout=probe.http.timeout,
            every=probe.every,
            expect_status=tuple(probe.http.expect_status) if probe.http.expect_status else None,
        )
        for probe in playbook.probes
    ]
    return Plan(steps=steps, probes=probes, hosts=hosts)


def _resolve_url(url: str, playbook: Playbook, inventory: dict[str, HostInfo]) -> str:
    """Replace a host name in a probe URL by its address: a target name or an inventory host."""
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    address: str | None = None
    if hostname in playbook.targets and playbook.targets[hostname].host in inventory:
        address = inventory[playbook.targets[hostname].host].address
    elif hostname in inventory:
        address = inventory[hostname].address
    if address is None:
        return url
    netloc = address if ":" not in address else f"[{address}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
