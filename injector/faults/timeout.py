"""network.timeout: connections to the target's ports hang.

Two modes, both in the target's namespace:

- ``hold`` (default): inbound TCP connections to the ports are redirected (nat prerouting) to a
  proxy that accepts them, reads and discards what the client sends, and never answers. The
  client's connect() succeeds and its request times out; the connections are closed when the
  fault is reverted (the proxy stops).
- ``drop_syn``: inbound SYNs to the ports are dropped, so connect() itself times out.

Connections established before the fault keep working in both modes (nat and the SYN match
only see new connections), and clients inside the target's own namespace are not affected
(prerouting/input of locally generated traffic is loopback, left alone for hold). The hold
proxy listens on IPv4; IPv6 clients are left alone in hold mode.
"""

from __future__ import annotations

from typing import Any, Literal

from injector import nft
from injector.faults.fault import FaultError
from injector.protocol import FaultSpec
from injector.proxy.redirect import RedirectFault, check_params, int_list

Mode = Literal["hold", "drop_syn"]
MODES: tuple[Mode, ...] = ("hold", "drop_syn")


class TimeoutFault(RedirectFault):
    kind = "network.timeout"

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        check_params(self.kind, spec.params, {"ports", "mode"})
        self.ports = int_list(self.kind, "ports", spec.params.get("ports"), low=1, high=65535)
        mode = spec.params.get("mode", "hold")
        if mode not in MODES:
            raise FaultError(f"{self.kind}: mode must be one of {MODES}, got {mode!r}", True)
        self.mode: Mode = mode

    def plan(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fault_id": self.fault_id,
            "mechanism": "proxy" if self.mode == "hold" else "nftables",
            "mode": self.mode,
            "netns": self.netns,
            "ports": list(self.ports),
            "artifacts": self.artifacts(),
            "ruleset": self.planned_ruleset(),
        }

    def planned_ruleset(self) -> nft.Document | None:
        if self.mode == "drop_syn":
            return self.ruleset(None)
        # The hold redirect points at the proxy's port, known once the proxy listens.
        port = self.read_port()
        return None if port is None else self.ruleset(port)

    def proxy_args(self) -> list[str] | None:
        # 0.0.0.0: a prerouting redirect sends the connection to the address of the interface
        # it arrived on.
        return ["hold", "--listen", "0.0.0.0"] if self.mode == "hold" else None  # noqa: S104

    def chains(self, proxy_port: int | None) -> list[nft.Chain]:
        match = nft.match_ports("tcp", "dport", self.ports)
        if self.mode == "drop_syn":
            return [self.filter_chain("input", (match, nft.tcp_syn_only(), nft.drop()))]
        assert proxy_port is not None
        return [self.nat_redirect_chain("prerouting", [match], proxy_port)]
