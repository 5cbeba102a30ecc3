"""eBPF collectors for TCP: ``tcp_retransmits``, ``tcp_resets`` and ``tcp_connect``.

One BPF program (tcp.bpf.c) serves all three; each collector compiles in only the tracepoints
its metrics need. Events are counted in kernel maps only for sockets whose network namespace
inode is in ``Scope.netns_inodes`` (the filter runs in the kernel, so nothing about other
namespaces ever reaches user space); an empty scope counts the whole host.

Every ``read`` takes the maps' contents and deletes them in one batch per map, so each sample
is about one interval, and every metric of the collector gets a sample, zeros included.
Counts are summed over the scope's namespaces (no per-namespace labels).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, ClassVar

from ebpf.btf import BtfError, kernel_btf
from ebpf.collector import CollectorUnavailable, KernelSample, Scope, Source

PROGRAM = Path(__file__).with_name("tcp.bpf.c")
MAX_SCOPE = 64  # size of the scope_netns map in tcp.bpf.c

# Counter slots, as numbered in tcp.bpf.c.
RETRANSMITS, RESETS_SENT, RESETS_RECEIVED = 0, 1, 2
CONNECT_ATTEMPTS, CONNECTS, CONNECT_FAILURES, CONNECT_LATENCY_NS = 3, 4, 5, 6

# -D name -> kernel BTF path of the field whose byte offset it carries.
OFFSETS = {
    "SK_NET_OFF": "sock_common.skc_net.net",
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
    btf = kernel_btf()
    return {define: btf.offset(path) for define, path in OFFSETS.items()}


def log2_buckets_ms(slots: dict[int, int]) -> dict[float, int]:
    """bpf_log2l slots of microsecond values -> {upper bound in ms: count}.

    bpf_log2l(v) is floor(log2(v)) + 1 for v >= 1 (and 1 for v = 0), so slot s holds values
    below 2**s microseconds.
    """
    return {(1 << slot) / 1000.0: n for slot, n in sorted(slots.items()) if n}


class TcpCollector:
    """Shared loader; subclasses say which tracepoint group they compile in and report."""

    name: str  # an instance attribute to the Collector protocol; set per subclass
    group: ClassVar[str]
    source = Source.EBPF

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._bpf: Any = None
        self._closed = False

    def attach(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self.name}: collector is closed; make a new one")
        if self._bpf is not None:
            return  # already attached: one program per collector
        if len(self.scope.netns_inodes) > MAX_SCOPE:
            raise CollectorUnavailable(f"{self.name}: at most {MAX_SCOPE} namespaces per scope")
        if os.geteuid() != 0:
            raise CollectorUnavailable(f"{self.name}: loading eBPF programs needs root")
        try:
            from bcc import BPF  # lazy: libbcc is heavy and absent on many hosts
        except Exception as exc:  # ImportError, or OSError when libbcc is missing
            raise CollectorUnavailable(f"{self.name}: bcc is not importable ({exc})") from exc
        for category, event in TRACEPOINTS[self.group]:
            if not BPF.tracepoint_exists(category, event):
                raise CollectorUnavailable(f"{self.name}: no tracepoint {category}:{event}")
        try:
            offsets = struct_offsets()
        except BtfError as exc:
            raise CollectorUnavailable(f"{self.name}: {exc}") from exc
        cflags = [f"-D{k}={v}" for k, v in offsets.items()]
        cflags += [f"-DWANT_{g}={int(g == self.group)}" for g in TRACEPOINTS]
        cflags += [f"-DFILTER_NETNS={int(bool(self.scope.netns_inodes))}", "-w"]
        try:
            bpf = BPF(src_file=str(PROGRAM).encode(), cflags=cflags)
        except Exception as exc:  # bcc raises bare Exception for compile and load errors
            raise CollectorUnavailable(f"{self.name}: bcc could not load tcp.bpf.c: {exc}") from exc
        try:
            allowed = bpf[b"scope_netns"]
            for inode in self.scope.netns_inodes:
                allowed[allowed.Key(inode)] = allowed.Leaf(1)
        except Exception:
            bpf.cleanup()
            raise
        self._bpf = bpf

    def _take(self, table: str) -> dict[int, int]:
        """The map's contents since the last take, deleted in the same batch."""
        items = self._bpf[table.encode()].items_lookup_and_delete_batch()
        # Items of a ctypes array of plain integers come back as Python ints.
        return {int(k): int(v) for k, v in items}

    def read(self, now: float | None = None) -> list[KernelSample]:
        if self._bpf is None:
            raise RuntimeError(f"{self.name}: read before attach (or after close)")
        t = time.time() if now is None else now
        return self.samples(t, self._take("counters"))

    def samples(self, t: float, counts: dict[int, int]) -> list[KernelSample]:
        raise NotImplementedError

    def close(self) -> None:
        self._closed = True
        bpf, self._bpf = self._bpf, None
        if bpf is not None:
            bpf.cleanup()


def _counter(t: float, metric: str, value: int) -> KernelSample:
    return KernelSample(t=t, metric=metric, value=float(value), source=Source.EBPF, count=value)


class TcpRetransmits(TcpCollector):
    name = "tcp_retransmits"
    group = "RETRANSMITS"

    def samples(self, t: float, counts: dict[int, int]) -> list[KernelSample]:
        return [_counter(t, "tcp_retransmits", counts.get(RETRANSMITS, 0))]


class TcpResets(TcpCollector):
    name = "tcp_resets"
    group = "RESETS"

    def samples(self, t: float, counts: dict[int, int]) -> list[KernelSample]:
        return [
            _counter(t, "tcp_resets_sent", counts.get(RESETS_SENT, 0)),
            _counter(t, "tcp_resets_received", counts.get(RESETS_RECEIVED, 0)),
        ]


class TcpConnect(TcpCollector):
    name = "tcp_connect"
    group = "CONNECT"

    def samples(self, t: float, counts: dict[int, int]) -> list[KernelSample]:
        connects = counts.get(CONNECTS, 0)
        mean_ms = counts.get(CONNECT_LATENCY_NS, 0) / connects / 1e6 if connects else 0.0
        return [
            _counter(t, "tcp_connect_attempts", counts.get(CONNECT_ATTEMPTS, 0)),
            _counter(t, "tcp_connects", connects),
            _counter(t, "tcp_connect_failures", counts.get(CONNECT_FAILURES, 0)),
            KernelSample(
                t=t,
                metric="tcp_connect_latency_ms",
                value=mean_ms,
                source=Source.EBPF,
                count=connects,
                buckets=log2_buckets_ms(self._take("connect_hist")),
            ),
        ]
