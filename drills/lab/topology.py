"""What the lab looks like: a bridge in the root namespace and one namespace per host.

The bridge carries an address in the root namespace so that everything running there (the
orchestrator, probes, agents) reaches every lab host directly, without routing or NAT.
Adding a host is adding a `LabHost` to `DEFAULT_TOPOLOGY`; adding a kind of service is a
`ServiceSpec` here plus a launcher in `services.py`.

The default lab (every fault of the catalogue has something real to hit):

    web   10.77.0.2  shop (demo app, 8080), files (8081), worker (supervised), sentinel
    db1   10.77.0.3  redis (primary), sentinel
    db2   10.77.0.4  redis (replica of db1), sentinel
    dns1  10.77.0.5  dns (dnsmasq: <host>.lab and shop.internal)

Three Sentinels watch the master "shop" with quorum 2, so cutting db1 off from the others
promotes db2 for real; every namespace resolves names through dns1.
"""

from __future__ import annotations

from dataclasses import dataclass

# Linux limits interface names to 15 bytes (IFNAMSIZ - 1).
IFNAME_MAX = 15
NAME_PREFIX = "dh-"
SENTINEL_MASTER = "shop"
LAB_DOMAIN = "lab"


@dataclass(frozen=True)
class ServiceSpec:
    """One real service process inside a lab host.

    `kind` selects the launcher in services.py ("redis", "sentinel", "demoapp", "dns",
    "files", "worker"); `options` carries the kind-specific settings as pairs (e.g. the
    demo app's `redis` option names the host it talks to). Pairs rather than a dict keep
    the spec hashable. Port 0 means the service listens on nothing (the worker).
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

    def services_of_kind(self, kind: str) -> list[ServiceSpec]:
        return [s for s in self.services if s.kind == kind]


@dataclass(frozen=True)
class Topology:
    bridge: str
    bridge_address: str
    prefixlen: int
    hosts: tuple[LabHost, ...]
    # The host whose "dns" service every namespace's resolv.conf points at (None: no file).
    resolver: str | None = None

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

    def services_of_kind(self, kind: str) -> list[tuple[LabHost, ServiceSpec]]:
        return [(h, s) for h in self.hosts for s in h.services if s.kind == kind]

    @property
    def resolver_address(self) -> str | None:
        return self.host(self.resolver).address if self.resolver else None


def _host(name: str, address: str, *services: ServiceSpec) -> LabHost:
    return LabHost(name=name, netns=f"{NAME_PREFIX}{name}", address=address, services=services)


REDIS = ServiceSpec(name="redis", kind="redis", port=6379)
REPLICA = ServiceSpec(name="redis", kind="redis", port=6379, options=(("replicaof", "db1"),))
# The master Sentinel watches; its down-after is short so a failover fits in a quick test.
SENTINEL = ServiceSpec(
    name="sentinel",
    kind="sentinel",
    port=26379,
    options=(
        ("master", SENTINEL_MASTER),
        ("primary", "db1"),
        ("quorum", "2"),
        ("down_after_ms", "2000"),
        ("failover_timeout_ms", "4000"),
    ),
)
SHOP = ServiceSpec(
    name="shop", kind="demoapp", port=8080, options=(("redis", "db1"), ("master", SENTINEL_MASTER))
)
FILES = ServiceSpec(name="files", kind="files", port=8081, options=(("dir", "files"),))
WORKER = ServiceSpec(name="worker", kind="worker", port=0, options=(("process", "shop-worker"),))
DNS = ServiceSpec(
    name="dns",
    kind="dns",
    port=53,
    options=(("domain", LAB_DOMAIN), ("alias", "shop.internal=web")),
)

DEFAULT_TOPOLOGY = Topology(
    bridge="dh-br0",
    bridge_address="10.77.0.1",
    prefixlen=24,
    hosts=(
        _host("web", "10.77.0.2", SHOP, FILES, WORKER, SENTINEL),
        _host("db1", "10.77.0.3", REDIS, SENTINEL),
        _host("db2", "10.77.0.4", REPLICA, SENTINEL),
        _host("dns1", "10.77.0.5", DNS),
    ),
    resolver="dns1",
)
