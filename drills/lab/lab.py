"""Bring the lab up, tear it down, report its state.

`lab_up` always starts from nothing: it tears down whatever a previous lab left (fully or
partly built, crashed or healthy) and builds afresh, so a second `up` is a clean rebuild.
A manifest in the state dir records what was built, so `lab_down` removes it even if the
topology in the code changed since. The host's forwarding and firewall settings are never
touched: the bridge address in the root namespace is the only route the lab needs.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from drills.lab import iproute, procs, services
from drills.lab.errors import LabError
from drills.lab.topology import DEFAULT_TOPOLOGY, LabHost, ServiceSpec, Topology

__all__ = [
    "LabError",
    "LabHostStatus",
    "LabStatus",
    "ServiceStatus",
    "lab_down",
    "lab_leftovers",
    "lab_status",
    "lab_up",
]

MANIFEST = "lab.json"
LOCK = ".lock"


@dataclass
class ServiceStatus:
    name: str
    kind: str
    port: int
    pid: int | None
    running: bool
    answering: bool
    log: str

    @property
    def up(self) -> bool:
        return self.running and self.answering

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "up": self.up}


@dataclass
class LabHostStatus:
    name: str
    netns: str
    address: str
    netns_exists: bool
    address_configured: bool
    link_up: bool
    services: list[ServiceStatus] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return (
            self.netns_exists
            and self.address_configured
            and self.link_up
            and all(s.up for s in self.services)
        )

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "services"}
        return {**d, "up": self.up, "services": [s.to_dict() for s in self.services]}


@dataclass
class LabStatus:
    state_dir: str
    bridge: str
    bridge_address: str
    bridge_up: bool
    hosts: list[LabHostStatus] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return self.bridge_up and bool(self.hosts) and all(h.up for h in self.hosts)

    def host(self, name: str) -> LabHostStatus:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def pids(self) -> list[int]:
        return [s.pid for h in self.hosts for s in h.services if s.pid is not None]

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "hosts"}
        return {**d, "up": self.up, "hosts": [h.to_dict() for h in self.hosts]}


def _require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces): run as root")


@contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    # Two `up`/`down` at once would fight over the same fixed names: serialise them.
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / LOCK).open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- manifest: what a lab_up built -------------------------------------------------------


def _manifest(topology: Topology, state_dir: Path) -> dict[str, Any]:
    return {
        "bridge": topology.bridge,
        "namespaces": topology.namespaces,
        "links": topology.links,
        "services": [
            {
                "pid_file": str(services.pid_file(state_dir, h, s)),
                "signature": services.launcher(s).signature,
            }
            for h in topology.hosts
            for s in h.services
        ],
    }


def _read_manifest(state_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((state_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# -- teardown ------------------------------------------------------------------------------


def _teardown(state_dir: Path, topology: Topology) -> list[str]:
    old = _read_manifest(state_dir)
    built = _manifest(topology, state_dir)
    namespaces = list(dict.fromkeys([*old.get("namespaces", []), *built["namespaces"]]))
    links = list(dict.fromkeys([*old.get("links", []), *built["links"]]))
    # Veths before bridges: deleting a veth end removes its peer inside the namespace too.
    bridges = {old.get("bridge"), built["bridge"]}
    links.sort(key=lambda name: name in bridges)
    pid_files = list(
        {
            e["pid_file"]: e["signature"] for e in [*old.get("services", []), *built["services"]]
        }.items()
    )

    removed: list[str] = []
    # 1. Every process inside a lab namespace (services, and whatever else was run there).
    ns_pids = {pid: ns for ns in namespaces for pid in iproute.netns_pids(ns)}
    for pid in procs.terminate(list(ns_pids)):
        removed.append(f"process {pid} in {ns_pids[pid]}")
    # 2. Services known by pid file (e.g. one whose namespace was deleted under it).
    file_pids: list[int] = []
    for path, signature in pid_files:
        pid = services.read_pid(Path(path), signature)
        if pid is not None:
            file_pids.append(pid)
        Path(path).unlink(missing_ok=True)
    for pid in procs.terminate(file_pids):
        removed.append(f"process {pid}")
    # 3. Links in the root namespace, then the namespaces themselves.
    for name in links:
        if iproute.link_exists(name):
            iproute.ip("link", "del", name)
            removed.append(f"link {name}")
    for ns in namespaces:
        if iproute.netns_exists(ns):
            iproute.ip("netns", "del", ns)
            removed.append(f"netns {ns}")
    (state_dir / MANIFEST).unlink(missing_ok=True)
    return removed


# -- build -----------------------------------------------------------------------------------


def _build_network(topology: Topology) -> None:
    iproute.ip("link", "add", topology.bridge, "type", "bridge")
    iproute.ip(
        "addr", "add", f"{topology.bridge_address}/{topology.prefixlen}", "dev", topology.bridge
    )
    iproute.ip("link", "set", topology.bridge, "up")
    for host in topology.hosts:
        _build_host(topology, host)


def _build_host(topology: Topology, host: LabHost) -> None:
    iproute.ip("netns", "add", host.netns)
    # The peer is created directly inside the namespace under its final name.
    iproute.ip(
        "link", "add", host.veth_host, "type", "veth",
        "peer", "name", host.iface, "netns", host.netns,
    )  # fmt: skip
    iproute.ip("link", "set", host.veth_host, "master", topology.bridge, "up")
    ns = ("-n", host.netns)
    iproute.ip(*ns, "addr", "add", f"{host.address}/{topology.prefixlen}", "dev", host.iface)
    iproute.ip(*ns, "link", "set", host.iface, "up")
    iproute.ip(*ns, "link", "set", "lo", "up")


# -- public API ----------------------------------------------------------------------------


def lab_up(state_dir: Path, topology: Topology = DEFAULT_TOPOLOGY) -> LabStatus:
    """Build the lab from scratch (tearing down any previous one) and start its services.

    Returns the status once every service answers. On failure everything built so far is
    removed again and LabError says why (with the failing service's log tail).
    """
    _require_root()
    state_dir = Path(state_dir)
    with _locked(state_dir):
        _teardown(state_dir, topology)
        # Written before building, so a crash half-way is still cleaned up by the next run.
        (state_dir / MANIFEST).write_text(json.dumps(_manifest(topology, state_dir), indent=2))
        try:
            _build_network(topology)
            # Topology order; the demo app tolerates Redis coming up after it anyway.
            for host in topology.hosts:
                for svc in host.services:
                    services.start_service(state_dir, topology, host, svc)
        except BaseException:
            _teardown(state_dir, topology)
            raise
    return lab_status(state_dir, topology)


def lab_down(state_dir: Path, topology: Topology = DEFAULT_TOPOLOGY) -> list[str]:
    """Remove every namespace, link and process of the lab; returns what was removed.

    Nothing there is not an error: the list is then empty. nftables rules live inside the
    lab namespaces and go with them.
    """
    _require_root()
    state_dir = Path(state_dir)
    with _locked(state_dir):
        return _teardown(state_dir, topology)


def lab_leftovers(topology: Topology = DEFAULT_TOPOLOGY) -> list[str]:
    """Namespaces and root-namespace links of `topology` that exist now (any state dir)."""
    found = [f"netns {ns}" for ns in topology.namespaces if iproute.netns_exists(ns)]
    return found + [f"link {name}" for name in topology.links if iproute.link_exists(name)]


def _service_status(state_dir: Path, host: LabHost, svc: ServiceSpec) -> ServiceStatus:
    pid = services.service_pid(state_dir, host, svc)
    return ServiceStatus(
        name=svc.name,
        kind=svc.kind,
        port=svc.port,
        pid=pid,
        running=pid is not None,
        answering=pid is not None and _port_open(host.address, svc.port),
        log=str(services.log_file(state_dir, host, svc)),
    )


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.3):
            return True
    except OSError:
        return False


def lab_status(state_dir: Path, topology: Topology = DEFAULT_TOPOLOGY) -> LabStatus:
    """What of the lab exists and answers right now (read-only; never raises for absence)."""
    state_dir = Path(state_dir)
    hosts = []
    for host in topology.hosts:
        hosts.append(
            LabHostStatus(
                name=host.name,
                netns=host.netns,
                address=host.address,
                netns_exists=iproute.netns_exists(host.netns),
                address_configured=host.address in iproute.netns_addresses(host.netns, host.iface),
                link_up=iproute.link_is_up(host.veth_host),
                services=[_service_status(state_dir, host, s) for s in host.services],
            )
        )
    return LabStatus(
        state_dir=str(state_dir),
        bridge=topology.bridge,
        bridge_address=topology.bridge_address,
        bridge_up=iproute.link_is_up(topology.bridge),
        hosts=hosts,
    )
