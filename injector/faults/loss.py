"""network.loss: drop a share of the target's outgoing packets.

Where the kernel has netem and the loss is for all traffic, a netem root qdisc on the egress
interface does it. Otherwise (always on these hosts: no netem) an nftables table per run and
step (``inet drillhall_r{run}_s{step}``) drops packets on output with ``numgen random``, to the
destinations and/or ports given, or to everything but loopback. The mechanism actually used is
recorded in the fault's workdir before the system is touched, and revert removes both kinds of
artifact whatever the record says, so a crash between the two cannot leave one behind.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from injector import nft
from injector.commands import CommandError, in_netns, netns_missing, run_command
from injector.faults.addresses import plain_address
from injector.faults.bandwidth import (
    delete_root_if_ours,
    egress_interface,
    qdisc_handle,
    root_qdisc,
)
from injector.faults.fault import Fault, FaultError
from injector.protocol import FaultSpec

TC_TIMEOUT = 5.0
# Same place in the output path as network.partition: before the default filter priority.
CHAIN_PRIORITY = -10
# numgen draws from 0..SCALE-1, so loss has a resolution of 0.01 %.
SCALE = 10_000
ALLOWED_PARAMS = {"loss", "destinations", "ports", "host"}
RECORD = "loss.json"
KERNEL_CONFIGS = (Path("/proc/config.gz"),)


def netem_in_config(config_text: str) -> bool:
    return any(
        line.strip() in ("CONFIG_NET_SCH_NETEM=y", "CONFIG_NET_SCH_NETEM=m")
        for line in config_text.splitlines()
    )


def netem_available() -> bool:
    """Whether tc netem can work here: a loaded module, or the kernel config says so."""
    if Path("/sys/module/sch_netem").exists():
        return True
    release = os.uname().release
    for path in (*KERNEL_CONFIGS, Path(f"/boot/config-{release}")):
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        text = gzip.decompress(raw) if path.suffix == ".gz" else raw
        return netem_in_config(text.decode(errors="replace"))
    return False


@dataclass(frozen=True)
class LossParams:
    loss: float
    destinations: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]
    ports: tuple[int, ...]

    @property
    def threshold(self) -> int:
        return round(self.loss * SCALE / 100)

    @property
    def everything(self) -> bool:
        return not self.destinations and not self.ports

    @classmethod
    def parse(cls, params: dict[str, Any]) -> LossParams:
        unknown = set(params) - ALLOWED_PARAMS
        if unknown:
            raise FaultError(f"network.loss: unknown params {sorted(unknown)}", True)
        loss = params.get("loss")
        if (
            not isinstance(loss, int | float)
            or isinstance(loss, bool)
            or not 0 <= loss <= 100  # also refuses NaN
        ):
            raise FaultError(f"network.loss: loss must be a percent 0..100, got {loss!r}", True)
        destinations: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        raw_destinations = params.get("destinations")
        if raw_destinations is not None:
            # An empty list means the targets resolved to nothing: dropping everything instead
            # would widen the blast radius, so it is refused.
            if not isinstance(raw_destinations, list) or not raw_destinations:
                raise FaultError("network.loss: destinations must be a non-empty list", True)
            destinations = [plain_address("network.loss", raw) for raw in raw_destinations]
        raw_ports = params.get("ports")
        if raw_ports is not None and (
            not isinstance(raw_ports, list)
            or not raw_ports
            or not all(
                isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in raw_ports
            )
        ):
            raise FaultError("network.loss: ports must be a non-empty list of 1-65535", True)
        return cls(
            loss=float(loss),
            destinations=tuple(dict.fromkeys(destinations)),
            ports=tuple(sorted(set(raw_ports or []))),
        )


class LossFault(Fault):
    kind = "network.loss"

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        self.params = LossParams.parse(spec.params)

    @property
    def table(self) -> str:
        return nft.table_name(self.spec.run, self.spec.step)

    @property
    def handle(self) -> str:
        return qdisc_handle(self.kind, self.spec.run, self.spec.step)

    def mechanism(self) -> str:
        """The mechanism used (when applied) or that apply() would pick."""
        recorded = self._record().get("mechanism")
        if recorded in ("netem", "nftables"):
            return str(recorded)
        return "netem" if self.params.everything and netem_available() else "nftables"

    def plan(self) -> dict[str, Any]:
        mechanism = self.mechanism()
        artifact = (
            f"tc root qdisc {self.handle} (netem) on the egress interface"
            if mechanism == "netem"
            else f"nft table inet {self.table}"
        )
        return {
            "kind": self.kind,
            "fault_id": self.fault_id,
            "mechanism": mechanism,
            "netns": self.netns,
            "loss": self.params.loss,
            "destinations": [str(d) for d in self.params.destinations],
            "ports": list(self.params.ports),
            "artifacts": [artifact],
            "ruleset": self.ruleset() if mechanism == "nftables" else None,
        }

    def ruleset(self) -> nft.Document:
        """The document the nftables mechanism hands to nft."""
        rules: list[nft.Rule] = (
            [] if self.params.destinations else [(nft.match_oifname("lo"), nft.return_())]
        )
        rules += self._drop_rules()
        chain = nft.Chain("output", "filter", CHAIN_PRIORITY, tuple(rules))
        return nft.ruleset(self.table, self.fault_id, [chain])

    def _drop_rules(self) -> list[nft.Rule]:
        threshold = self.params.threshold
        if threshold <= 0:
            return []  # 0 % is simply no rule
        # nft refuses a bound equal to the modulus: 100 % is a plain drop.
        dropping: nft.Rule = (
            (nft.drop(),)
            if threshold >= SCALE
            else (nft.numgen_below(SCALE, threshold), nft.drop())
        )
        matches: list[nft.Rule] = [
            (nft.match_addresses(family, "daddr", addresses),)
            for family, addresses in nft.by_family(self.params.destinations)
        ]
        if not self.params.destinations:
            matches.append(())
        rules: list[nft.Rule] = []
        for match in matches:
            if not self.params.ports:
                rules.append((*match, *dropping))
                continue
            # Either end may be the service port (the target as client or as server); the
            # second rule skips what the first already drew for, so no packet draws twice.
            ports = self.params.ports
            proto = nft.match_l4proto(("tcp", "udp"))
            rules.append((*match, proto, nft.match_ports("th", "dport", ports), *dropping))
            rules.append(
                (
                    *match,
                    proto,
                    nft.match_ports("th", "dport", ports, negate=True),
                    nft.match_ports("th", "sport", ports),
                    *dropping,
                )
            )
        return rules

    def apply(self) -> None:
        self.require_netns()
        if self.mechanism() == "netem" and self._apply_netem():
            return
        self._write_record({"mechanism": "nftables"})
        nft.apply(self.netns, self.table, self.ruleset())

    def _apply_netem(self) -> bool:
        """Put a netem root qdisc on the egress interface; False to fall back to nftables."""
        interface = egress_interface(self.netns)
        self._write_record({"mechanism": "netem", "interface": interface})
        current = root_qdisc(self.netns, interface)
        if current is None or current.get("handle") not in ("0:", None, self.handle):
            return False  # someone else's root qdisc (or no interface): do not replace it
        verb = "change" if current.get("handle") == self.handle else "add"
        argv = ["tc", "qdisc", verb, "dev", interface, "root", "handle", self.handle,
                "netem", "loss", f"{self.params.loss}%"]  # fmt: skip
        try:
            run_command(in_netns(self.netns, argv), timeout=TC_TIMEOUT)
        except CommandError:
            return False
        return True

    def revert(self) -> None:
        if netns_missing(self.netns):
            (self.workdir / RECORD).unlink(missing_ok=True)
            return
        nft.delete(self.netns, self.table)
        interface = self._netem_interface()
        if interface is not None:
            delete_root_if_ours(self.netns, interface, self.handle)
        (self.workdir / RECORD).unlink(missing_ok=True)

    def is_active(self) -> bool:
        if netns_missing(self.netns):
            return False
        if nft.exists(self.netns, self.table):
            return True
        interface = self._netem_interface()
        if interface is None:
            return False
        current = root_qdisc(self.netns, interface)
        return current is not None and current.get("handle") == self.handle

    def _netem_interface(self) -> str | None:
        """Where a netem qdisc of ours may be: the recorded interface, else the egress one."""
        recorded = self._record().get("interface")
        if isinstance(recorded, str):
            return recorded
        if not self.params.everything:
            return None  # apply never uses netem for a filtered loss
        try:
            return egress_interface(self.netns)
        except FaultError:
            return None

    def _record(self) -> dict[str, Any]:
        try:
            data = json.loads((self.workdir / RECORD).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_record(self, data: dict[str, Any]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        tmp = (self.workdir / RECORD).with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.workdir / RECORD)
