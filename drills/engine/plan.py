"""The plan: which fault lands on which host, with what parameters, when and for how long.

Pure: takes the parsed playbook and an inventory snapshot, returns a Plan or raises PlanError
listing every problem the inventory reveals (unknown hosts, empty selectors, more hosts than
limits.max_targets once selectors are resolved). What the playbook alone tells
(durations against limits.max_duration, limits.allowed_faults, hosts named outright against
limits.max_targets) is checked when it is parsed (drills/playbook/model/limit_checks.py), so a
Playbook that reaches the planner already keeps to them. Repeats are expanded into ordinary
steps; each fault step becomes one PlannedFault per host its target resolves to, with the
exact parameters the agent receives.

A fault on a protected host is planned, not refused: the plan names those hosts
(``Plan.protected``), and a run of it waits until another person approves it
(drills/web/approvals.py).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from drills.playbook.durations import format_duration
from drills.playbook.model import (
    CATALOGUE,
    CanaryProbe,
    DnsProbe,
    FaultStep,
    HostTarget,
    HttpProbe,
    ParallelStep,
    PauseStep,
    Playbook,
    PrometheusProbe,
    RepeatStep,
    SelectorTarget,
    TcpProbe,
    WaitStep,
    expected_seconds,
)
from drills.playbook.redaction import redact_data


class PlanError(Exception):
    """The playbook cannot run against this inventory; ``problems`` says every reason."""

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def __str__(self) -> str:
        return "\n".join(self.problems)


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    port: int
    kind: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HostInfo:
    name: str
    address: str
    queue: str
    netns: str = ""
    protected: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    services: tuple[ServiceInfo, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["services"] = [service.to_dict() for service in self.services]
        return out


@dataclass(frozen=True)
class PlannedFault:
    kind: str
    host: str
    queue: str
    mechanism: str
    params: dict[str, Any]  # exactly what the agent receives; always has "host"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "host": self.host,
            "queue": self.queue,
            "mechanism": self.mechanism,
            "params": self.params,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlannedFault:
        return cls(
            str(data["kind"]),
            str(data["host"]),
            str(data["queue"]),
            str(data["mechanism"]),
            dict(data["params"]),
        )


@dataclass(frozen=True)
class PlannedStep:
    index: int  # unique across the plan, in execution order; names agent artifacts
    path: str  # "3", "3.2" (child of a parallel), "4[2].1" (iteration 2 of a repeat)
    name: str
    kind: str  # "wait" | "fault" | "parallel" | "pause"
    start: float  # expected offset from the first step; pauses count as 0 s
    duration: float  # parallel: the longest child; pause: 0
    target: str | None = None
    faults: tuple[PlannedFault, ...] = ()
    children: tuple[PlannedStep, ...] = ()

    @property
    def fault(self) -> PlannedFault | None:
        """The first fault (single-host steps have exactly one)."""
        return self.faults[0] if self.faults else None

    def describe(self) -> dict[str, Any]:
        """A short summary for step events."""
        out: dict[str, Any] = {
            "step": self.index,
            "path": self.path,
            "name": self.name,
            "kind": self.kind,
            "duration": self.duration,
        }
        if self.faults:
            out.update(
                fault=self.faults[0].kind,
                target=self.target,
                host=self.faults[0].host,
                hosts=[fault.host for fault in self.faults],
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "path": self.path,
            "name": self.name,
            "kind": self.kind,
            "start": self.start,
            "duration": self.duration,
            "target": self.target,
            "faults": [fault.to_dict() for fault in self.faults],
            "children": [child.to_dict() for child in self.children],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlannedStep:
        return cls(
            index=int(data["index"]),
            path=str(data["path"]),
            name=str(data["name"]),
            kind=str(data["kind"]),
            start=float(data["start"]),
            duration=float(data["duration"]),
            target=data.get("target"),
            faults=tuple(PlannedFault.from_dict(f) for f in data.get("faults", [])),
            children=tuple(PlannedStep.from_dict(c) for c in data.get("children", [])),
        )


@dataclass(frozen=True)
class PlannedProbe:
    name: str
    kind: str  # "http" | "tcp" | "dns" | "canary" | "prometheus"
    every: float
    from_host: str | None
    params: dict[str, Any]
    url: str | None = None  # http: target/host names replaced by addresses
    timeout: float = 1.0
    expect_status: tuple[int, ...] | None = None
    netns: str = ""  # the from host's network namespace; probes sample from inside it

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "every": self.every,
            "from_host": self.from_host,
            "params": self.params,
            "url": self.url,
            "timeout": self.timeout,
            "expect_status": list(self.expect_status) if self.expect_status else None,
            "netns": self.netns,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlannedProbe:
        expect = data.get("expect_status")
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            every=float(data["every"]),
            from_host=data.get("from_host"),
            params=dict(data["params"]),
            url=data.get("url"),
            timeout=float(data.get("timeout", 1.0)),
            expect_status=tuple(int(s) for s in expect) if expect else None,
            netns=str(data.get("netns") or ""),
        )


@dataclass(frozen=True)
class PlannedCollectors:
    """The kernel collectors to run on one host for the whole drill."""

    host: str
    queue: str
    address: str
    names: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlannedCollectors:
        return cls(
            str(data["host"]), str(data["queue"]), str(data["address"]), tuple(data["names"])
        )


@dataclass(frozen=True)
class BlastRadius:
    hosts: tuple[str, ...]
    services: tuple[str, ...]  # "host/service"
    groups: dict[str, str]  # "role=db" -> "2 of 5 (40%)"

    def to_dict(self) -> dict[str, Any]:
        return {"hosts": list(self.hosts), "services": list(self.services), "groups": self.groups}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BlastRadius:
        return cls(tuple(data["hosts"]), tuple(data["services"]), dict(data["groups"]))


@dataclass(frozen=True)
class Plan:
    steps: tuple[PlannedStep, ...]
    probes: tuple[PlannedProbe, ...]
    hosts: tuple[str, ...]  # every host a fault lands on, in order of first use
    blast_radius: BlastRadius
    expected_seconds: float
    warnings: tuple[str, ...] = ()
    collectors: tuple[PlannedCollectors, ...] = ()
    # The hosts among ``hosts`` that the inventory marks protected: a run needs an approval.
    protected: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        plan = {
            "steps": [step.to_dict() for step in self.steps],
            "probes": [probe.to_dict() for probe in self.probes],
            "collectors": [c.to_dict() for c in self.collectors],
            "hosts": list(self.hosts),
            "protected": list(self.protected),
            "blast_radius": self.blast_radius.to_dict(),
            "expected_seconds": self.expected_seconds,
            "warnings": list(self.warnings),
        }
        # Stored with the run and shown everywhere: a plan names secrets and never holds one,
        # and redaction keeps it so even if a credential slipped into a parameter.
        return redact_data(plan)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """The plan as stored with a run: the inverse of ``to_dict``."""
        return cls(
            steps=tuple(PlannedStep.from_dict(s) for s in data["steps"]),
            probes=tuple(PlannedProbe.from_dict(p) for p in data["probes"]),
            hosts=tuple(data["hosts"]),
            blast_radius=BlastRadius.from_dict(data["blast_radius"]),
            expected_seconds=float(data["expected_seconds"]),
            warnings=tuple(data.get("warnings", ())),
            collectors=tuple(PlannedCollectors.from_dict(c) for c in data.get("collectors", ())),
            protected=tuple(data.get("protected", ())),
        )

    def faults(self) -> list[tuple[PlannedStep, PlannedFault]]:
        """Every planned fault with its step, nested ones included, in execution order."""
        return _all_faults(self.steps)

    def rows(self) -> list[PlanRow]:
        """One row per fault (or per step without one): what lands where, when, how long.
        The CLI's plan table, the run page and the report all show these."""
        return list(_rows(self.steps, 0))


def resolve_plan(playbook: Playbook, inventory: dict[str, HostInfo]) -> Plan:
    """The plan of ``playbook`` on ``inventory``; raises PlanError listing every problem."""
    return _Planner(playbook, inventory).plan()


@dataclass
class _Group:
    label: str  # "role=db"
    members: tuple[str, ...]  # every host with the labels, chosen or not


class _Planner:
    def __init__(self, playbook: Playbook, inventory: dict[str, HostInfo]) -> None:
        self.playbook = playbook
        self.inventory = inventory
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.index = 0
        self.resolved: dict[str, list[HostInfo]] = {}
        self.groups: dict[str, _Group] = {}
        for name, target in playbook.targets.items():
            self.resolved[name] = self._resolve_target(name, target)

    # -- targets --
    def _resolve_target(self, name: str, target: HostTarget | SelectorTarget) -> list[HostInfo]:
        if isinstance(target, HostTarget):
            info = self.inventory.get(target.host)
            if info is None:
                known = ", ".join(sorted(self.inventory)) or "none"
                self.problems.append(
                    f"target '{name}' is bound to host '{target.host}', which is not in the "
                    f"inventory (known hosts: {known}); for the lab run `drillhall lab up`"
                )
                return []
            self._check_service(name, info, target.service)
            return [info]
        labels = target.selector.labels
        label = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        group = sorted(
            (h for h in self.inventory.values() if _matches(h.labels, labels)),
            key=lambda h: h.name,
        )
        if not group:
            self.problems.append(f"target '{name}': selector {label} matches no host")
            return []
        if target.count is not None:
            wanted = target.count
            if wanted > len(group):
                self.problems.append(
                    f"target '{name}': count {wanted} is larger than the group {label} "
                    f"({len(group)} host{'s' if len(group) != 1 else ''})"
                )
                return []
        else:
            wanted = math.ceil(len(group) * (target.percent or 0) / 100)
        chosen = group[:wanted]
        self.groups[name] = _Group(label, tuple(h.name for h in group))
        for info in chosen:
            self._check_service(name, info, target.service)
        return chosen

    def _check_service(self, name: str, info: HostInfo, service: str | None) -> None:
        if service is None:
            return
        if not any(s.name == service for s in info.services):
            self.warnings.append(
                f"target '{name}': service '{service}' is not registered on host '{info.name}'"
            )

    def hosts_of(self, target: str) -> list[HostInfo]:
        return self.resolved.get(target, [])

    def host_port(self, value: str) -> str:
        """``name:port`` with a target or inventory host name replaced by its address."""
        name, _, port = value.rpartition(":")
        address = self.address_of(name) or name
        netloc = f"[{address}]" if ":" in address and "[" not in address else address
        return f"{netloc}:{port}"

    def address_of(self, name: str) -> str | None:
        """A target's (first) host address, an inventory host's address, or None."""
        if name in self.playbook.targets:
            hosts = self.hosts_of(name)
            return hosts[0].address if hosts else None
        info = self.inventory.get(name)
        return info.address if info else None

    # -- steps --
    def plan(self) -> Plan:
        steps: list[PlannedStep] = []
        start = 0.0
        for number, step in enumerate(self.playbook.steps, start=1):
            if isinstance(step, RepeatStep):
                for iteration in range(1, step.repeat.times + 1):
                    for child_number, child in enumerate(step.repeat.steps, start=1):
                        path = f"{number}[{iteration}].{child_number}"
                        suffix = f" ({iteration}/{step.repeat.times})"
                        planned = self.step(child, path, start, suffix)
                        steps.append(planned)
                        start += planned.duration
                continue
            planned = self.step(step, str(number), start)
            steps.append(planned)
            start += planned.duration
        probes = tuple(self.probe(probe) for probe in self.playbook.probes)
        hosts = _unique(fault.host for _, fault in _all_faults(steps))
        self.check_blast_radius(steps, hosts)
        if self.problems:
            raise PlanError(_unique(self.problems))
        pauses = sum(1 for s in _walk(steps) if s.kind == "pause")
        if pauses:
            self.warnings.append(
                f"the drill pauses {pauses} time{'s' if pauses != 1 else ''} for an operator; "
                "the expected length does not count the time paused"
            )
        protected = self.protected(hosts)
        return Plan(
            steps=tuple(steps),
            probes=probes,
            hosts=tuple(hosts),
            blast_radius=self.blast_radius(steps, hosts),
            expected_seconds=start,
            warnings=tuple(_unique(self.warnings)),
            collectors=self.collectors(steps),
            protected=protected,
        )

    def collectors(self, steps: list[PlannedStep]) -> tuple[PlannedCollectors, ...]:
        """The playbook's kernel collectors, plus each fault model's proof collectors on the
        fault's host and peers, grouped by host."""
        wanted: dict[str, set[str]] = {}
        for entry in self.playbook.kernel:
            for name, options in entry.items():
                for info in self.hosts_of(options.on):
                    wanted.setdefault(info.name, set()).add(name)
        by_address = {info.address: info for info in self.inventory.values()}
        for _, fault in _all_faults(steps):
            proof = CATALOGUE[fault.kind].PROOF_COLLECTORS
            if not proof:
                continue
            peers = [*fault.params.get("peers", []), *fault.params.get("destinations", [])]
            involved = [fault.host, *(by_address[a].name for a in peers if a in by_address)]
            for host in involved:
                wanted.setdefault(host, set()).update(proof)
        found = []
        for host in sorted(wanted):
            known = self.inventory.get(host)
            if known is not None:
                found.append(
                    PlannedCollectors(host, known.queue, known.address, tuple(sorted(wanted[host])))
                )
        return tuple(found)

    def step(self, step: Any, path: str, start: float, suffix: str = "") -> PlannedStep:
        self.index += 1
        index = self.index
        duration = expected_seconds(step)  # the same rule the playbook's limit checks use
        if isinstance(step, WaitStep):
            name = step.name or f"wait {format_duration(step.wait)}"
            return PlannedStep(index, path, name + suffix, "wait", start, duration)
        if isinstance(step, PauseStep):
            name = step.name or (f"pause: {step.pause.message}" if step.pause.message else "pause")
            return PlannedStep(index, path, name + suffix, "pause", start, duration)
        if isinstance(step, ParallelStep):
            children = tuple(
                self.step(child, f"{path}.{number}", start, suffix)
                for number, child in enumerate(step.parallel, start=1)
            )
            name = step.name or "parallel: " + ", ".join(child.name for child in children)
            return PlannedStep(
                index, path, name + suffix, "parallel", start, duration, children=children
            )
        assert isinstance(step, FaultStep)
        faults = tuple(
            PlannedFault(step.fault, host.name, host.queue, step.mechanism(), params)
            for host in self.hosts_of(step.target)
            for params in [step.agent_params(_HostContext(self, host))]
        )
        name = step.name or f"{step.fault} on {step.target}"
        return PlannedStep(
            index, path, name + suffix, "fault", start, duration, step.target, faults
        )

    # -- probes --
    def probe(self, probe: Any) -> PlannedProbe:
        netns = ""
        if probe.from_ is not None:
            hosts = self.hosts_of(probe.from_)
            netns = hosts[0].netns if hosts else ""
        return replace(self.probe_of_kind(probe), netns=netns)

    def probe_of_kind(self, probe: Any) -> PlannedProbe:
        from_host = None
        if probe.from_ is not None:
            hosts = self.hosts_of(probe.from_)
            from_host = hosts[0].name if hosts else None
        if isinstance(probe, HttpProbe):
            spec = probe.http
            url = self.resolve_url(spec.url)
            expect = tuple(spec.expect_status) if spec.expect_status else None
            params = {
                "url": url,
                "timeout": spec.timeout,
                "expect_status": list(expect) if expect else None,
                "body_contains": spec.body_contains,
            }
            return PlannedProbe(
                probe.name, "http", probe.every, from_host, params, url, spec.timeout, expect
            )
        if isinstance(probe, TcpProbe):
            host = self.address_of(probe.tcp.host) or probe.tcp.host
            params = {"host": host, "port": probe.tcp.port, "timeout": probe.tcp.timeout}
            return PlannedProbe(
                probe.name, "tcp", probe.every, from_host, params, timeout=probe.tcp.timeout
            )
        if isinstance(probe, CanaryProbe):
            redis = probe.canary.redis
            if redis is not None:
                params = {"store": "redis", "key_prefix": redis.key_prefix}
                if redis.address is not None:
                    params["address"] = self.host_port(redis.address)
                else:
                    assert redis.sentinel is not None
                    params["sentinel"] = [self.host_port(s) for s in redis.sentinel]
                    params["master"] = redis.master
            else:
                assert probe.canary.postgres is not None
                # A reference stays a reference: the orchestrator resolves it at preflight.
                params = {"store": "postgres", **probe.canary.postgres.source()}
            return PlannedProbe(probe.name, "canary", probe.every, from_host, params)
        if isinstance(probe, PrometheusProbe):
            spec_p = probe.prometheus
            params = {"url": spec_p.url, "query": spec_p.query, "timeout": spec_p.timeout}
            return PlannedProbe(
                probe.name, "prometheus", probe.every, from_host, params, timeout=spec_p.timeout
            )
        assert isinstance(probe, DnsProbe)
        spec_d = probe.dns
        server = self.address_of(spec_d.server) or spec_d.server
        if not _is_ip_address(server):
            # The probe asks its server directly, never the system's resolver (which a DNS
            # drill breaks): the plan must know the server's address.
            self.problems.append(
                f"probe '{probe.name}': the DNS server '{spec_d.server}' is neither a target, "
                "an inventory host nor an IP address"
            )
        params = {
            "name": spec_d.name,
            "server": server,
            "port": spec_d.port,
            "type": spec_d.record_type,
            "timeout": spec_d.timeout,
        }
        return PlannedProbe(
            probe.name, "dns", probe.every, from_host, params, timeout=spec_d.timeout
        )

    def resolve_url(self, url: str) -> str:
        """Replace a host name in a probe URL by its address: a target name or an inventory host."""
        parts = urlsplit(url)
        address = self.address_of(parts.hostname or "")
        if address is None:
            return url
        netloc = address if ":" not in address else f"[{address}]"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    # -- blast radius: which hosts the faults land on --
    def check_blast_radius(self, steps: list[PlannedStep], hosts: list[str]) -> None:
        """The limits only the inventory can decide; the rest were checked at parse time."""
        most = self.playbook.limits.max_targets
        if most is not None and len(hosts) > most:
            self.problems.append(
                f"the plan faults {len(hosts)} hosts ({', '.join(hosts)}), more than "
                f"limits.max_targets ({most})"
            )

    def protected(self, hosts: list[str]) -> tuple[str, ...]:
        """The faulted hosts that are protected, each with a warning saying what that means."""
        protected = tuple(host for host in hosts if self.inventory[host].protected)
        for host in protected:
            self.warnings.append(
                f"host '{host}' is protected: a run waits until an approver of the playbook's "
                "team, who is not the person who started it, approves it"
            )
        return protected

    def blast_radius(self, steps: list[PlannedStep], hosts: list[str]) -> BlastRadius:
        services: list[str] = []
        targets: list[str] = []
        for step, _ in _all_faults(steps):
            if step.target is not None and step.target not in targets:
                targets.append(step.target)
        for name in targets:
            declared = self.playbook.targets[name].service
            for info in self.hosts_of(name):
                if declared:
                    services.append(f"{info.name}/{declared}")
        for host in hosts:
            services.extend(f"{host}/{s.name}" for s in self.inventory[host].services)
        # Several selectors may pick from one label group: count the group's faulted hosts.
        groups: dict[str, str] = {}
        for name, group in self.groups.items():
            if name in targets:
                hit = sum(1 for member in group.members if member in hosts)
                size = len(group.members)
                groups[group.label] = f"{hit} of {size} ({_share(hit, size)})"
        return BlastRadius(tuple(hosts), tuple(_unique(services)), groups)


@dataclass(frozen=True)
class _HostContext:
    """What a fault step's model may ask of the plan for one host it lands on (FaultContext)."""

    planner: _Planner
    info: HostInfo

    @property
    def host(self) -> str:
        return self.info.name

    def peer_addresses(self, targets: Sequence[str] | None) -> list[str]:
        found = [
            info.address
            for name in targets or []
            for info in self.planner.hosts_of(name)
            if info.name != self.info.name
        ]
        return _unique(found)


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _matches(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in wanted.items())


def _share(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class PlanRow:
    path: str  # indented by depth, as the table shows it
    step: str
    what: str  # the fault kind, or the step's kind
    host: str  # "-" for a step without a fault
    mechanism: str
    start: str  # durations as written in playbooks ("5s")
    duration: str


def _rows(steps: Sequence[PlannedStep], depth: int) -> Iterable[PlanRow]:
    for step in steps:
        path = "  " * depth + step.path
        timing = (format_duration(step.start), format_duration(step.duration))
        if step.faults:
            for fault in step.faults:
                yield PlanRow(path, step.name, fault.kind, fault.host, fault.mechanism, *timing)
        else:
            yield PlanRow(path, step.name, step.kind, "-", "-", *timing)
        yield from _rows(step.children, depth + 1)


def _walk(steps: Sequence[PlannedStep]) -> Iterable[PlannedStep]:
    for step in steps:
        yield step
        yield from _walk(step.children)


def _all_faults(steps: Sequence[PlannedStep]) -> list[tuple[PlannedStep, PlannedFault]]:
    return [(step, fault) for step in _walk(steps) for fault in step.faults]
