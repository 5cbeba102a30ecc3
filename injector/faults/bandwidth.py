"""network.bandwidth: cap the target's egress rate with a tc tbf root qdisc.

The qdisc sits on the namespace's interface towards the network (the one its default route
uses, else its only configured interface). Its handle is derived from the run, step and kind,
so revert deletes the root qdisc only when it carries that handle: a qdisc someone else put
there is never removed, and a host's own non-default root qdisc makes apply refuse rather
than overwrite it.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from dataclasses import dataclass
from typing import Any

from injector.commands import CommandError, in_netns, netns_missing, run_command
from injector.faults.fault import Fault, FaultError
from injector.protocol import FaultSpec

TC_TIMEOUT = 5.0
ALLOWED_PARAMS = {"rate", "host"}
RATE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(kbit|mbit|gbit)$")
UNITS = {"kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000}
MIN_RATE_BPS = 8_000  # below this tbf cannot pass a full-size packet in a sane time
MAX_RATE_BPS = 100_000_000_000
# How long a packet may wait in the bucket's queue before it is dropped: long enough for TCP
# to fill the pipe, short enough that the cap shows as a cap and not as a huge delay.
TBF_LATENCY = "100ms"
MIN_BURST_BYTES = 4096  # two full-size Ethernet frames and change
RECORD = "bandwidth.json"


def parse_rate(text: Any) -> int:
    """Bits per second in "512kbit", "1mbit", "1.5gbit" (decimal units, as tc reads them)."""
    match = RATE.match(text) if isinstance(text, str) else None
    if match is None:
        raise FaultError(f"rate must look like 512kbit, 1mbit or 1gbit, got {text!r}", True)
    bps = int(float(match.group(1)) * UNITS[match.group(2)])
    if not MIN_RATE_BPS <= bps <= MAX_RATE_BPS:
        raise FaultError(f"rate {text} is outside 8kbit..100gbit", True)
    return bps


def burst_bytes(rate_bps: int) -> int:
    # About 10 ms worth of tokens: smaller starves fast links of GSO packets, larger lets a
    # slow link send long bursts above the cap.
    return max(MIN_BURST_BYTES, rate_bps // 8 // 100)


def qdisc_handle(kind: str, run: str, step: int) -> str:
    """A deterministic root qdisc handle ("dxyz:") for one fault kind, run and step."""
    major = 0xD000 | (zlib.crc32(f"{kind}:{run}:{step}".encode()) & 0x0FFF)
    return f"{major:x}:"


def _ip_json(netns: str | None, *args: str) -> list[dict[str, Any]]:
    try:
        out = run_command(in_netns(netns, ["ip", "-j", *args]), timeout=TC_TIMEOUT)
    except CommandError as exc:
        raise FaultError(f"cannot read the namespace's network setup: {exc}") from exc
    data = json.loads(out or "[]")
    return data if isinstance(data, list) else []


def egress_interface(netns: str | None) -> str:
    """The interface the namespace reaches the network through.

    The device of the default route (IPv4, then IPv6); without one, the only interface other
    than loopback that is up and has an address. Anything else is ambiguous and refused.
    """
    for family in ("-4", "-6"):
        for route in _ip_json(netns, family, "route", "show", "default"):
            if isinstance(route.get("dev"), str):
                return str(route["dev"])
    candidates = [
        str(link["ifname"])
        for link in _ip_json(netns, "addr", "show")
        if link.get("ifname") != "lo"
        and "UP" in link.get("flags", [])
        and any(a.get("scope") != "host" for a in link.get("addr_info", []))
    ]
    if len(candidates) != 1:
        raise FaultError(
            f"cannot tell the namespace's egress interface (no default route; "
            f"candidates: {candidates or 'none'})",
            True,
        )
    return candidates[0]


def root_qdisc(netns: str | None, interface: str) -> dict[str, Any] | None:
    """The root qdisc of interface as tc reports it, or None when the interface is gone."""
    try:
        out = run_command(
            in_netns(netns, ["tc", "-j", "qdisc", "show", "dev", interface, "root"]),
            timeout=TC_TIMEOUT,
        )
    except CommandError as exc:
        if "Cannot find device" in exc.stderr:
            return None
        raise FaultError(f"cannot read the qdiscs of {interface}: {exc}") from exc
    for qdisc in json.loads(out or "[]"):
        if isinstance(qdisc, dict) and qdisc.get("root"):
            return qdisc
    return None


def delete_root_if_ours(netns: str | None, interface: str, handle: str) -> None:
    """Delete interface's root qdisc when (and only when) it carries handle."""
    if netns_missing(netns):
        return
    current = root_qdisc(netns, interface)
    if current is None or current.get("handle") != handle:
        return
    try:
        run_command(
            in_netns(netns, ["tc", "qdisc", "del", "dev", interface, "root", "handle", handle]),
            timeout=TC_TIMEOUT,
        )
    except CommandError as exc:
        current = root_qdisc(netns, interface)
        if current is not None and current.get("handle") == handle:
            raise FaultError(f"tc could not delete qdisc {handle} on {interface}: {exc}") from exc


@dataclass(frozen=True)
class BandwidthParams:
    rate: str
    rate_bps: int

    @classmethod
    def parse(cls, params: dict[str, Any]) -> BandwidthParams:
        unknown = set(params) - ALLOWED_PARAMS
        if unknown:
            raise FaultError(f"network.bandwidth: unknown params {sorted(unknown)}", True)
        if "rate" not in params:
            raise FaultError("network.bandwidth: rate is required", True)
        return cls(rate=params["rate"], rate_bps=parse_rate(params["rate"]))


class BandwidthFault(Fault):
    kind = "network.bandwidth"

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        self.params = BandwidthParams.parse(spec.params)

    @property
    def handle(self) -> str:
        return qdisc_handle(self.kind, self.spec.run, self.spec.step)

    def plan(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fault_id": self.fault_id,
            "mechanism": "tc",
            "qdisc": "tbf",
            "netns": self.netns,
            "rate": self.params.rate,
            "rate_bps": self.params.rate_bps,
            "burst_bytes": burst_bytes(self.params.rate_bps),
            "latency": TBF_LATENCY,
            "artifacts": [f"tc root qdisc {self.handle} (tbf) on the egress interface"],
        }

    def tc_argv(self, interface: str, verb: str) -> list[str]:
        return in_netns(self.netns, [
            "tc", "qdisc", verb, "dev", interface, "root", "handle", self.handle, "tbf",
            "rate", f"{self.params.rate_bps}bit",
            "burst", str(burst_bytes(self.params.rate_bps)),
            "latency", TBF_LATENCY,
        ])  # fmt: skip

    def apply(self) -> None:
        self.require_netns()
        interface = self._recorded_interface() or egress_interface(self.netns)
        # Written before tc runs, so a janitor finds the interface even if we die right after.
        self.workdir.mkdir(parents=True, exist_ok=True)
        record = self.workdir / RECORD
        tmp = record.with_suffix(".tmp")
        tmp.write_text(json.dumps({"interface": interface, "handle": self.handle}))
        os.replace(tmp, record)
        current = root_qdisc(self.netns, interface)
        if current is None:
            raise FaultError(f"interface {interface} is gone")
        if current.get("handle") == self.handle:
            verb = "change"  # applied already: make sure the parameters are ours, no stacking
        elif current.get("handle") in ("0:", None):
            verb = "add"  # the kernel's default root qdisc: ours replaces it until revert
        else:
            raise FaultError(
                f"{interface} already has a root qdisc {current.get('kind')} "
                f"{current.get('handle')} that is not ours: refusing to replace it"
            )
        try:
            run_command(self.tc_argv(interface, verb), timeout=TC_TIMEOUT)
        except CommandError as exc:
            raise FaultError(f"tc could not set {self.params.rate} on {interface}: {exc}") from exc

    def revert(self) -> None:
        if netns_missing(self.netns):
            (self.workdir / RECORD).unlink(missing_ok=True)
            return
        interface = self._recorded_interface()
        if interface is None:
            try:
                interface = egress_interface(self.netns)
            except FaultError:
                return  # no record and no interface to look at: nothing of ours can be there
        delete_root_if_ours(self.netns, interface, self.handle)
        (self.workdir / RECORD).unlink(missing_ok=True)

    def is_active(self) -> bool:
        if netns_missing(self.netns):
            return False
        interface = self._recorded_interface()
        if interface is None:
            try:
                interface = egress_interface(self.netns)
            except FaultError:
                return False
        current = root_qdisc(self.netns, interface)
        return current is not None and current.get("handle") == self.handle

    def _recorded_interface(self) -> str | None:
        try:
            data = json.loads((self.workdir / RECORD).read_text())
        except (OSError, ValueError):
            return None
        interface = data.get("interface") if isinstance(data, dict) else None
        return interface if isinstance(interface, str) else None
