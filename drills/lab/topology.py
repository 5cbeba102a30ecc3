"""What the lab looks like: a bridge in the root namespace and one namespace per host.

The bridge carries an address in the root namespace so that everything running there (the
orchestrator, probes, agents) reaches every lab host directly, without routing or NAT.
Adding a host is adding a `LabHost` to `DEFAULT_TOPOLOGY`; adding a kind of service is a
`ServiceSpec` here plus a launcher in `services.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

# Linux limits interface names to 15 bytes (IFNAMSIZ - 1).
IFNAME_MAX = 15
NAME_PREFIX = "dh-"


@dataclass(frozen=True)
class ServiceSpec:
    """One real service process inside a lab host.

    `kind` selects the launcher in services.py ("redis", "demoapp"); `options` carries the
    kind-specific settings as pairs (e.g. the demo app's `redis` option names the host it
    talks to). Pairs rather than a dict keep the spec hashable.
    """

    name: str
    kind: str
    port: int
    options: tuple[tuple[str, str], ...] = ()

    def option(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)


@dataclass(frozen=True)
class LabHost:
    name: str
    netns: str
    address: str
    services: tuple[ServiceSpec, ...] = ()

    def __post_init__(self) -> None:
        if len(self.veth_host) > IFNAME_MAX:
            raise ValueError(f"host name {self.name!r} too long for interface {self.veth_host!r}")

    @property
    def veth_host(self) -> str:
        """The root-namespace end of the host's veth pair, attached to the bridge."""
        return f"{NAME_PREFIX}{self.name}-h"

    @property
    def iface(self) -> str:
        """The interface name inside the namespace."""
        return "eth0"

    def service(self, name: str) -> ServiceSpec:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(f"host {self.name!r} has no service {name!r}")


@dataclass(frozen=True)
class Topology:
    bridge: str
    bridge_address: str
    prefixlen: int
    hosts: tuple[LabHost, ...]

    def host(self, name: str) -> LabHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(f"the lab has no host {name!r}")

    @property
    def namespaces(self) -> list[str]:
        return [h.netns for h in self.hosts]

    @property
    def links(self) -> list[str]:
        """Every link the lab creates in the root namespace (veths first, bridge last)."""
        return [h.veth_host for h in self.hosts] + [self.bridge]


def _host(name: str, address: str, *services: ServiceSpec) -> LabHost:
    return LabHost(name=name, netns=f"{NAME_PREFIX}{name}", address=address, services=services)


REDIS = ServiceSpec(name="redis", kind="redis", port=6379)
DEMOAPP = ServiceSpec(name="app", kind="demoapp", port=8080, options=(("redis", "db1"),))

DEFAULT_TOPOLOGY = Topology(
    bridge="dh-br0",
    bridge_address="10.77.0.1",
    prefixlen=24,
    hosts=(
        _host("web", "10.77.0.2", DEMOAPP),
        _host("db1", "10.77.0.3", REDIS),
    ),
)
