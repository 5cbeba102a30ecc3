"""Bring the lab up, tear it down, report its state.

`lab_up` always starts from nothing: it tears down whatever a previous lab left (fully or
partly built, crashed or healthy) and builds afresh, so a second `up` is a clean rebuild.
A manifest in the state dir records what was built, so `lab_down` removes it even if the
topology in the code changed since. The host's forwarding and firewall settings are never
touched: the bridge address in the root namespace is the only route the lab needs.

Name resolution: `ip netns exec NS` bind-mounts /etc/netns/NS/resolv.conf over
/etc/resolv.conf for what it runs, so the lab writes one such file per namespace (pointing at
the lab's resolver) and removes it again on the way down. Mounts left under the lab state
dir (a FUSE layer of an IO fault over the files directory, say) are unmounted on the way down.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from drills.lab import iproute, procs, services
from drills.lab.lab_error import LabError
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
NETNS_ETC = Path("/etc/netns")
UMOUNT_TIMEOUT_S = 10.0


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


def resolv_conf(netns: str) -> Path:
    """The file `ip netns exec` shows the namespace as /etc/resolv.conf."""
    return NETNS_ETC / netns / "resolv.conf"


def _manifest(topology: Topology, state_dir: Path) -> dict[str, Any]:
    return {
        "bridge": topology.bridge,
        "namespaces": topology.namespaces,
        "links": topology.links,
        "resolv_conf": [str(resolv_conf(ns)) for ns in topology.namespaces]
        if topology.resolver
        else [],
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
        recorded = services.read_pid(Path(path), signature)
        if recorded is not None:
            file_pids.append(recorded)
        Path(path).unlink(missing_ok=True)
    for pid in procs.terminate(file_pids):
        removed.append(f"process {pid}")
    # 3. Mounts under the state dir (an IO fault's FUSE layer that outlived its agent).
    for mount in _mounts_under(state_dir):
        _unmount(mount)
        removed.append(f"mount {mount}")
    # 4. Links in the root namespace, then the namespaces themselves, then their resolv.conf.
    for name in links:
        if iproute.link_exists(name):
            iproute.ip("link", "del", name)
            removed.append(f"link {name}")
    for ns in namespaces:
        if iproute.netns_exists(ns):
            iproute.ip("netns", "del", ns)
            removed.append(f"netns {ns}")
    resolvs = dict.fromkeys([*old.get("resolv_conf", []), *built["resolv_conf"]])
    resolvs.update(dict.fromkeys(str(resolv_conf(ns)) for ns in namespaces))
    for path in map(Path, resolvs):
        if path.exists():
            path.unlink()
            removed.append(f"file {path}")
        for directory in (path.parent, path.parent.parent):  # /etc/netns/<ns>, /etc/netns
            try:
                directory.rmdir()  # only when empty: someone else's files there stay
            except OSError:
                break
    (state_dir / MANIFEST).unlink(missing_ok=True)
    return removed


def _share_data_dir(state_dir: Path) -> None:
    """Make the services' data directory a shared mount point.

    Services start under `ip netns exec`, which gives each a mount namespace of its own, a
    slave of this one. "/" is private on these machines, so an IO fault's FUSE layer, mounted
    later by an agent in this namespace, would never reach them: the fault would inject
    nothing. A shared mount here propagates into the services' namespaces.
    """
    data = state_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    if str(data.resolve()) not in _mounts_under(data):
        subprocess.run(["mount", "--bind", str(data), str(data)], check=True, timeout=10)  # noqa: S603, S607
    subprocess.run(["mount", "--make-shared", str(data)], check=True, timeout=10)  # noqa: S603, S607


def _unescape_mount(path: str) -> str:
    # /proc/self/mountinfo escapes space, tab, newline and backslash as octal.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        path = path.replace(code, char)
    return path


def _mounts_under(directory: Path) -> list[str]:
    """Mount points at or below `directory`, deepest first."""
    root = str(directory.resolve())
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    points = {_unescape_mount(line.split()[4]) for line in lines if len(line.split()) > 4}
    inside = [p for p in points if p == root or p.startswith(root + "/")]
    return sorted(inside, key=lambda p: p.count("/"), reverse=True)


def _unmount(point: str) -> None:
    # Lazy: a FUSE server that hangs must not hang `lab down`.
    for argv in (["fusermount3", "-u", "-z", point], ["umount", "-l", point]):
        if shutil.which(argv[0]) is None:
            continue
        try:
            done = subprocess.run(  # noqa: S603 (fixed argv, no shell)
                argv, capture_output=True, timeout=UMOUNT_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return


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
    if topology.resolver_address:
        path = resolv_conf(host.netns)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Short timeouts: a DNS fault should show as a quick failure, not a 5 s hang.
        domain = " ".join(
            {s.option("domain") or "lab" for _, s in topology.services_of_kind("dns")}
        )
        search = f"search {domain}\n" if domain else ""
        path.write_text(
            f"# written by drillhall lab up; removed by lab down\n"
            f"nameserver {topology.resolver_address}\n{search}options timeout:1 attempts:1\n"
        )


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
            _share_data_dir(state_dir)
            services.start_services(state_dir, topology)
        except BaseException:
            _teardown(state_dir, topology)
            raise
    return lab_status(state_dir, topology)


def lab_down(state_dir: Path, topology: Topology = DEFAULT_TOPOLOGY) -> list[str]:
    """Remove every namespace, link and process of the lab; returns what was removed.

    Nothing there is not an error: the list is then empty. nftables rules live inside the
    lab namespaces and go with them; resolv.conf files and mounts under the state dir too.
    """
    _require_root()
    state_dir = Path(state_dir)
    with _locked(state_dir):
        return _teardown(state_dir, topology)


def lab_leftovers(topology: Topology = DEFAULT_TOPOLOGY) -> list[str]:
    """Namespaces, root-namespace links and resolv.conf files of `topology` that exist now."""
    found = [f"netns {ns}" for ns in topology.namespaces if iproute.netns_exists(ns)]
    found += [f"link {name}" for name in topology.links if iproute.link_exists(name)]
    return found + [
        f"file {resolv_conf(ns)}" for ns in topology.namespaces if resolv_conf(ns).exists()
    ]


def _service_status(
    state_dir: Path, topology: Topology, host: LabHost, svc: ServiceSpec
) -> ServiceStatus:
    pid = services.service_pid(state_dir, host, svc)
    return ServiceStatus(
        name=svc.name,
        kind=svc.kind,
        port=svc.port,
        pid=pid,
        running=pid is not None,
        answering=pid is not None and services.service_answers(state_dir, topology, host, svc),
        log=str(services.log_file(state_dir, host, svc)),
    )


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
                services=[_service_status(state_dir, topology, host, s) for s in host.services],
            )
        )
    return LabStatus(
        state_dir=str(state_dir),
        bridge=topology.bridge,
        bridge_address=topology.bridge_address,
        bridge_up=iproute.link_is_up(topology.bridge),
        hosts=hosts,
    )
