"""network.partition: drop traffic between the target and some peers with an nftables table.

One table per run and step (``inet drillhall_r{run}_s{step}``) inside the target's network
namespace, with an input and an output chain that drop packets from / to the peers. The table
is loaded as one JSON document (``injector.nft``) in one transaction, so it is either fully
there or not at all, and reverting is deleting that one table.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

from injector import nft
from injector.faults.addresses import plain_address
from injector.faults.fault import Fault, FaultError
from injector.protocol import FaultSpec

Direction = Literal["both", "in", "out"]
DIRECTIONS: tuple[Direction, ...] = ("both", "in", "out")
# Hooked just before the default filter priority (0) so that a host's own accept rules in
# other tables do not let peer traffic through first.
CHAIN_PRIORITY = -10
# "host" routes the spec to an agent; the fault itself ignores it.
ALLOWED_PARAMS = {"peers", "direction", "ports", "host"}


@dataclass(frozen=True)
class PartitionParams:
    peers: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]
    direction: Direction
    ports: tuple[int, ...]

    @classmethod
    def parse(cls, params: dict[str, Any]) -> PartitionParams:
        unknown = set(params) - ALLOWED_PARAMS
        if unknown:
            raise FaultError(f"network.partition: unknown params {sorted(unknown)}", True)
        raw_peers = params.get("peers")
        if not isinstance(raw_peers, list) or not raw_peers:
            raise FaultError("network.partition: peers must be a non-empty list of addresses", True)
        peers = [plain_address("network.partition", raw) for raw in raw_peers]
        direction = params.get("direction", "both")
        if direction not in DIRECTIONS:
            raise FaultError(
                f"network.partition: direction must be one of {DIRECTIONS}, got {direction!r}", True
            )
        raw_ports = params.get("ports") or []
        if not isinstance(raw_ports, list) or not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in raw_ports
        ):
            raise FaultError("network.partition: ports must be a list of integers 1-65535", True)
        return cls(
            peers=tuple(dict.fromkeys(peers)),
            direction=direction,
            ports=tuple(sorted(set(raw_ports))),
        )


class PartitionFault(Fault):
    kind = "network.partition"

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        self.params = PartitionParams.parse(spec.params)

    @property
    def table(self) -> str:
        return nft.table_name(self.spec.run, self.spec.step)

    def plan(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fault_id": self.fault_id,
            "mechanism": "nftables",
            "netns": self.netns,
            "direction": self.params.direction,
            "peers": [str(p) for p in self.params.peers],
            "ports": list(self.params.ports),
            "artifacts": [f"nft table inet {self.table}"],
            "ruleset": self.ruleset(),
        }

    def ruleset(self) -> nft.Document:
        """The document apply() hands to nft."""
        chains = []
        if self.params.direction in ("both", "in"):
            chains.append(self._chain("input", "saddr"))
        if self.params.direction in ("both", "out"):
            chains.append(self._chain("output", "daddr"))
        return nft.ruleset(self.table, self.fault_id, chains)

    def _chain(self, hook: nft.Hook, field: nft.AddressField) -> nft.Chain:
        rules: list[nft.Rule] = []
        for family, addresses in nft.by_family(self.params.peers):
            match = nft.match_addresses(family, field, addresses)
            if not self.params.ports:
                rules.append((match, nft.drop()))
                continue
            # Either end of a flow may be the service port: match both so replies die too.
            port_fields: tuple[nft.PortField, ...] = ("dport", "sport")
            for port_field in port_fields:
                rules.append(
                    (
                        match,
                        nft.match_l4proto(("tcp", "udp")),
                        nft.match_ports("th", port_field, self.params.ports),
                        nft.drop(),
                    )
                )
        return nft.Chain(hook, "filter", CHAIN_PRIORITY, tuple(rules))

    def apply(self) -> None:
        self.require_netns()
        nft.apply(self.netns, self.table, self.ruleset())

    def revert(self) -> None:
        nft.delete(self.netns, self.table)

    def is_active(self) -> bool:
        return nft.exists(self.netns, self.table)
