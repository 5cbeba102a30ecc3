"""eBPF collectors for TCP: ``tcp_retransmits``, ``tcp_resets`` and ``tcp_connect``.

One BPF program (tcp.bpf.c) serves all three; each collector compiles in only the tracepoints
its metrics need, as raw tracepoints (a run's end detaches them at once). Events are counted
in kernel maps only for sockets whose network namespace inode is in ``Scope.netns_inodes``
(the filter runs in the kernel, so nothing about other namespaces ever reaches user space); an
empty scope counts the whole host.

Every ``read`` takes the maps' contents and deletes them in one batch per map, so each sample
is about one interval, and every metric of the collector gets a sample, zeros included.
Counts are summed over the scope's namespaces (no per-namespace labels).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

from ebpf import bcc_program
from ebpf.bcc_collector import BccCollector
from ebpf.btf import BtfError, kernel_offsets
from ebpf.collector import CollectorUnavailable, KernelSample, Scope, Source
from ebpf.log2_hist import LatencyTotals

PROGRAM = Path(__file__).with_name("tcp.bpf.c")
MAX_SCOPE = 64  # size of the scope_netns map in tcp.bpf.c

# Counter slots, as numbered in tcp.bpf.c.
RETRANSMITS, RESETS_SENT, RESETS_RECEIVED = 0, 1, 2
CONNECT_ATTEMPTS, CONNECTS, CONNECT_FAILURES, CONNECT_LATENCY_NS = 3, 4, 5, 6

# -D name -> kernel BTF path of the field whose byte offset it carries.
OFFSETS = {
    "SK_NET_OFF": "sock_common.skc_net.net",
    "SK_PROTOCOL_OFF": "sock.sk_protocol",
    "NET_INUM_OFF": "net.ns.inum",
    "SKB_DEV_OFF": "sk_buff.dev",
    "DEV_NET_OFF": "net_device.nd_net.net",
}
TRACEPOINTS = {
    "RETRANSMITS": [("tcp", "tcp_retransmit_skb")],
    "RESETS": [("tcp", "tcp_send_reset"), ("tcp", "tcp_receive_reset")],
    "CONNECT": [("sock", "inet_sock_set_state")],
}


def struct_offsets() -> dict[str, int]:
    """The -D offsets for tcp.bpf.c, from the running kernel's BTF."""
    return kernel_offsets(OFFSETS)


class TcpCollector(BccCollector):
    """Shared loader; subclasses say which tracepoint group they compile in and report."""

    group: ClassVar[str]
    program = PROGRAM
    raw_tracepoints = True
    maps = (b"scope_netns", b"counters", b"connect_hist", b"connect_start")

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope)
        self._closed = False

    def attach(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self.name}: collector is closed; make a new one")
        if len(self.scope.netns_inodes) > MAX_SCOPE:
            raise CollectorUnavailable(f"{self.name}: at most {MAX_SCOPE} namespaces per scope")
        try:
            super().attach()
        except CollectorUnavailable as exc:
            raise CollectorUnavailable(f"{self.name}: {exc}") from exc

    def cflags(self) -> list[str]:
        try:
            offsets = struct_offsets()
        except BtfError as exc:
            raise CollectorUnavailable(str(exc)) from exc
        cflags = [f"-D{k}={v}" for k, v in offsets.items()]
        cflags += [f"-DWANT_{g}={int(g == self.group)}" for g in TRACEPOINTS]
        return [*cflags, f"-DFILTER_NETNS={int(bool(self.scope.netns_inodes))}", "-w"]

    def fill(self, bpf: Any) -> None:
        bcc_program.fill_set(bpf[b"scope_netns"], self.scope.netns_inodes)

    def _take(self, table: bytes) -> dict[int, int]:
        """The map's contents since the last take, deleted as they are read."""
        return {
            bcc_program.number(k): bcc_program.number(v)
            for k, v in bcc_program.drain(self._bpf[table])
        }

    def read(self, now: float | None = None) -> list[KernelSample]:
        if self._bpf is None:
            raise RuntimeError(f"{self.name}: read before attach (or after close)")
        t = time.time() if now is None else now
        return self.samples(t, self._take(b"counters"))

    def samples(self, t: float, counts: dict[int, int]) -> list[KernelSample]:
        raise NotImplementedError

    def close(self) -> None:
        self._closed = True
        super().close()


def _counter(t: float, metric: str, value: int) -> KernelSample:
    return KernelSample(t=t, metric=metric, value=float(value), source=Source.EBPF, count=value)


class TcpRetransmits(TcpCollector):
    name = "tcp_retransmits"
    group = "RETRANSMITS"
    tracepoints = TRACEPOINTS[group]

    def samples(self, t: float, counts: dict[int, int]) -> list[KernelSample]:
        return [_counter(t, "tcp_retransmits", counts.get(RETRANSMITS, 0))]


class TcpResets(TcpCollector):
    name = "tcp_resets"
    group = "RESETS"
    tracepoints = TRACEPOINTS[group]

    def samples(self, t: float, counts: dict[int, int]) -> list[KernelSample]:
        return [
            _counter(t, "tcp_resets_sent", counts.get(RESETS_SENT, 0)),
            _counter(t, "tcp_resets_received", counts.get(RESETS_RECEIVED, 0)),
        ]


class TcpConnect(TcpCollector):
    name = "tcp_connect"
    group = "CONNECT"
    tracepoints = TRACEPOINTS[group]

    def samples(self, t: float, counts: dict[int, int]) -> list[KernelSample]:
        connects = counts.get(CONNECTS, 0)
        latency = LatencyTotals(count=connects, sum_ns=counts.get(CONNECT_LATENCY_NS, 0))
        for slot, n in self._take(b"connect_hist").items():
            latency.add_slot(slot, n)
        return [
            _counter(t, "tcp_connect_attempts", counts.get(CONNECT_ATTEMPTS, 0)),
            _counter(t, "tcp_connects", connects),
            _counter(t, "tcp_connect_failures", counts.get(CONNECT_FAILURES, 0)),
            latency.sample(t, "tcp_connect_latency_ms"),
        ]
