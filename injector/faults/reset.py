"""network.reset: TCP segments to the target's ports are answered with a reset.

One nftables rule in the target's namespace (``tcp dport {ports} reject with tcp reset`` on
input): a new connection is refused (the SYN gets a RST), and an established one is reset the
next time the client sends on it. Both address families, any client (remote or local).
"""

from __future__ import annotations

from typing import Any

from injector import nft
from injector.protocol import FaultSpec
from injector.proxy.redirect import RedirectFault, check_params, int_list


class ResetFault(RedirectFault):
    kind = "network.reset"

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        check_params(self.kind, spec.params, {"ports"})
        self.ports = int_list(self.kind, "ports", spec.params.get("ports"), low=1, high=65535)

    def plan(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fault_id": self.fault_id,
            "mechanism": "nftables",
            "netns": self.netns,
            "ports": list(self.ports),
            "artifacts": self.artifacts(),
            "ruleset": self.ruleset(None),
        }

    def chains(self, proxy_port: int | None) -> list[nft.Chain]:
        rule = (nft.match_ports("tcp", "dport", self.ports), nft.reject_tcp_reset())
        return [self.filter_chain("input", rule)]
