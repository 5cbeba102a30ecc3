"""network.latency: what the target sends to some destinations/ports arrives later.

Two mechanisms, chosen when the fault is first applied and recorded in its workdir:

- ``netem`` (kernels that have it, see ``injector.netem``): a prio + netem qdisc on every
  non-loopback link of the target's namespace, with u32 filters for the destinations and
  ports. Delays TCP and UDP. Not exercised on machines without netem.
- ``proxy`` (the fallback): nftables (nat output) redirects the target's outgoing TCP
  connections to the destinations/ports to a transparent proxy in the namespace
  (``injector.proxy.delay``): connect() completes at once, each chunk the target sends is held
  ``latency ± uniform(jitter)`` seconds, replies pass straight back, so every request/response
  exchange takes ``latency`` longer. UDP is not delayed. Connections opened before the fault
  are not delayed; proxied connections are cut when the fault is reverted.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Literal

from injector import nft
from injector.commands import CommandError, in_netns, run_command
from injector.faults.addresses import plain_address
from injector.faults.fault import FaultError
from injector.netem import TC_TIMEOUT, NetemDelay, netem_available
from injector.protocol import FaultSpec
from injector.proxy.redirect import RedirectFault, check_params, int_list, number

Mechanism = Literal["netem", "proxy"]
MAX_SECONDS = 60.0


class LatencyFault(RedirectFault):
    kind = "network.latency"

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        p = spec.params
        check_params(self.kind, p, {"destinations", "ports", "latency", "jitter"})
        self.latency = number(self.kind, "latency", p.get("latency"), low=0.0, high=MAX_SECONDS)
        if self.latency <= 0:
            raise FaultError(f"{self.kind}: latency must be positive", True)
        self.jitter = number(self.kind, "jitter", p.get("jitter", 0.0), low=0.0, high=MAX_SECONDS)
        self.destinations = _destinations(p.get("destinations"))
        self.ports = (
            int_list(self.kind, "ports", p["ports"], low=1, high=65535) if "ports" in p else ()
        )
        if not self.destinations and not self.ports:
            raise FaultError(f"{self.kind}: needs destinations or ports", True)

    # -- mechanism --
    @property
    def mechanism_file(self) -> Any:
        return self.workdir / "mechanism.json"

    def recorded(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.mechanism_file.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def mechanism(self) -> Mechanism:
        """The one recorded by a previous apply, else netem when the kernel has it."""
        recorded = self.recorded()
        if recorded and recorded.get("mechanism") in ("netem", "proxy"):
            return recorded["mechanism"]  # type: ignore[no-any-return]
        return "netem" if netem_available(self.netns) else "proxy"

    def plan(self) -> dict[str, Any]:
        mechanism = self.mechanism()
        plan: dict[str, Any] = {
            "kind": self.kind,
            "fault_id": self.fault_id,
            "mechanism": mechanism,
            "netns": self.netns,
            "destinations": [str(d) for d in self.destinations],
            "ports": list(self.ports),
            "latency": self.latency,
            "jitter": self.jitter,
        }
        if mechanism == "proxy":
            plan["artifacts"] = self.artifacts()
            plan["limits"] = (
                "outgoing TCP only (UDP is not delayed); connect() is not delayed, each chunk "
                "sent is; connections opened before the fault are not delayed"
            )
        else:
            plan["artifacts"] = [f"tc qdisc prio on each link of {self.netns or 'the host'}"]
            plan["limits"] = "egress packets (TCP and UDP) to the destinations/ports"
        return plan

    def proxy_args(self) -> list[str]:
        return ["tcp", "--latency", repr(self.latency), "--jitter", repr(self.jitter)]

    def chains(self, proxy_port: int | None) -> list[nft.Chain]:
        assert proxy_port is not None
        match = []
        if self.destinations:
            match.append(nft.match_addresses("ip", "daddr", self.destinations))
        match.append(
            nft.match_ports("tcp", "dport", self.ports)
            if self.ports
            else nft.match_l4proto(("tcp",))
        )
        return [self.nat_redirect_chain("output", match, proxy_port)]

    # -- apply / revert --
    def apply(self) -> None:
        self.require_netns()
        mechanism = self.mechanism()
        if mechanism == "proxy":
            self.record({"mechanism": "proxy"})
            super().apply()
            return
        devices = self.links()
        # Recorded before tc runs: a janitor must know every device it may have to clean.
        self.record({"mechanism": "netem", "devices": devices})
        for device in devices:
            qdisc = self.netem(device)
            if qdisc.present_in(self.qdiscs(device)):
                continue  # applied before: once is enough
            for argv in qdisc.add_commands():
                try:
                    run_command(in_netns(self.netns, argv), timeout=TC_TIMEOUT)
                except CommandError as exc:
                    raise FaultError(
                        f"tc could not add the netem delay on {device}: {exc}"
                    ) from exc

    def revert(self) -> None:
        recorded = self.recorded() or {}
        for device in recorded.get("devices", []):
            if self.netns_missing():
                break
            qdisc = self.netem(device)
            if qdisc.present_in(self.qdiscs(device)):
                try:
                    run_command(in_netns(self.netns, qdisc.delete_command()), timeout=TC_TIMEOUT)
                except CommandError as exc:
                    raise FaultError(f"tc could not delete the delay on {device}: {exc}") from exc
        super().revert()  # the nft table and the proxy, whichever mechanism ran
        self.mechanism_file.unlink(missing_ok=True)

    def is_active(self) -> bool:
        recorded = self.recorded() or {}
        netem = any(self.netem(d).present_in(self.qdiscs(d)) for d in recorded.get("devices", []))
        return netem or super().is_active()

    def record(self, data: dict[str, Any]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        tmp = self.mechanism_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.mechanism_file)

    def netem(self, device: str) -> NetemDelay:
        destinations = tuple(str(d) for d in self.destinations)
        return NetemDelay(device, self.table, self.latency, self.jitter, destinations, self.ports)

    def links(self) -> list[str]:
        out = run_command(in_netns(self.netns, ["ip", "-o", "link", "show"]), timeout=TC_TIMEOUT)
        names = [
            line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line
        ]
        return [n for n in names if n and n != "lo"]

    def qdiscs(self, device: str) -> str:
        if self.netns_missing():
            return ""
        try:
            argv = in_netns(self.netns, ["tc", "qdisc", "show", "dev", device])
            return run_command(argv, timeout=TC_TIMEOUT)
        except CommandError:
            return ""  # the device is gone, and its qdiscs with it


def _destinations(value: object) -> tuple[ipaddress.IPv4Address, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise FaultError(
            "network.latency: destinations must be a non-empty list of addresses", True
        )
    found = []
    for raw in value:
        address = plain_address("network.latency", raw)
        if not isinstance(address, ipaddress.IPv4Address):
            # The proxy fallback reads SO_ORIGINAL_DST for IPv4 only.
            raise FaultError(f"network.latency: IPv6 destination {raw} is not supported", True)
        found.append(address)
    return tuple(dict.fromkeys(found))
