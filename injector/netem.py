"""Whether this kernel has netem, and the tc commands of a netem delay per destination/port.

Detection tries for real: a throwaway dummy link in the target namespace gets a netem qdisc,
and the link is deleted again. A kernel without ``sch_netem`` refuses the qdisc; so does a
container without the capability. The answer is cached per namespace for the process.
``DRILLHALL_NETEM=0`` (or ``1``) overrides detection, e.g. to force the proxy fallback.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import zlib
from dataclasses import dataclass

from injector.commands import CommandError, in_netns, run_command

TC_TIMEOUT = 5.0


@functools.lru_cache(maxsize=64)
def netem_available(netns: str | None = None) -> bool:
    override = os.environ.get("DRILLHALL_NETEM", "")
    if override in {"0", "1"}:
        return override == "1"
    link = f"dhnetem{os.getpid() % 100000}"  # at most 15 characters, unique per agent process
    try:
        run_command(
            in_netns(netns, ["ip", "link", "add", link, "type", "dummy"]), timeout=TC_TIMEOUT
        )
    except CommandError:
        return False
    try:
        run_command(
            in_netns(netns, ["tc", "qdisc", "add", "dev", link, "root", "netem", "delay", "1ms"]),
            timeout=TC_TIMEOUT,
        )
        return True
    except CommandError:
        return False
    finally:
        try:
            run_command(in_netns(netns, ["ip", "link", "del", link]), timeout=TC_TIMEOUT)
        except CommandError:
            pass


@dataclass(frozen=True)
class NetemDelay:
    """A netem delay on one device for the packets matching destinations and ports.

    A 4-band prio qdisc at the root (its default priomap only uses bands 1-3), netem on band
    4, and u32 filters steering the matching packets there: everything else is untouched. The
    root handle is derived from the fault's table name, so revert deletes only its own qdisc.
    """

    device: str
    name: str  # the fault's table name, e.g. drillhall_r1_s2
    latency: float
    jitter: float
    destinations: tuple[str, ...]
    ports: tuple[int, ...]

    @property
    def handle(self) -> str:
        return f"{0xD000 | (zlib.crc32(self.name.encode()) & 0x0FFF):x}"

    def add_commands(self) -> list[list[str]]:
        dev, h = self.device, self.handle
        delay = ["delay", f"{self.latency * 1000:.3f}ms"]
        if self.jitter:
            delay += [f"{self.jitter * 1000:.3f}ms", "distribution", "uniform"]
        commands = [
            ["tc", "qdisc", "add", "dev", dev, "root", "handle", f"{h}:", "prio", "bands", "4"],
            [
                "tc",
                "qdisc",
                "add",
                "dev",
                dev,
                "parent",
                f"{h}:4",
                "handle",
                "d0:",
                "netem",
                *delay,
            ],
        ]
        for match in self.matches():
            commands.append(
                [
                    "tc",
                    "filter",
                    "add",
                    "dev",
                    dev,
                    "parent",
                    f"{h}:",
                    "protocol",
                    "ip",
                    "prio",
                    "1",
                    "u32",
                    *match,
                    "flowid",
                    f"{h}:4",
                ]  # fmt: skip
            )
        return commands

    def matches(self) -> list[list[str]]:
        dsts = [["match", "ip", "dst", f"{ipaddress.ip_address(d)}/32"] for d in self.destinations]
        ports = [["match", "ip", "dport", str(p), "0xffff"] for p in self.ports]
        if dsts and ports:
            return [d + p for d in dsts for p in ports]
        return dsts or ports

    def delete_command(self) -> list[str]:
        return ["tc", "qdisc", "del", "dev", self.device, "root", "handle", f"{self.handle}:"]

    def present_in(self, qdisc_show: str) -> bool:
        return f"qdisc prio {self.handle}: root" in qdisc_show
