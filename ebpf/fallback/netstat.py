"""/proc fallbacks for ``tcp_retransmits``, ``tcp_resets`` and ``tcp_connect``.

The kernel keeps TCP counters per network namespace and shows them in /proc/net/snmp (``Tcp:``)
and /proc/net/netstat (``TcpExt:``) to whoever reads them from inside that namespace. At
attach, a short-lived thread enters ``/run/netns/<Scope.netns_name>`` and opens
``/proc/thread-self/net/{snmp,netstat}`` there (ebpf.netns); the open files stay bound to that
namespace, so each read re-reads them from offset 0 and reports the change since the last read.
Entering the namespace was chosen over ``/proc/<pid>/net/snmp`` of a process in it because a
namespace made by ``ip netns add`` need not hold any process. An empty scope reads the
process's own namespace.

Mapping, and what it cannot say (labels name the counter behind each sample):

- ``tcp_retransmits``      <- Tcp RetransSegs: segments retransmitted, SYNs included
  (label ``syn``: TcpExt TCPSynRetrans, the SYN share).
- ``tcp_resets_sent``      <- Tcp OutRsts: segments sent with RST set.
- ``tcp_resets_received``  <- Tcp EstabResets: connections that went from ESTABLISHED or
  CLOSE-WAIT straight to CLOSED. Linux counts that for a received RST *and* for a local abort
  (close with SO_LINGER 0), and does not count an RST that refuses a connect (that one is in
  AttemptFails). There is no /proc counter of RSTs received.
- ``tcp_connect_attempts`` <- Tcp ActiveOpens: CLOSED -> SYN-SENT.
- ``tcp_connect_failures`` <- Tcp AttemptFails: SYN-SENT/SYN-RECV -> CLOSED because of a
  reset or the kernel's own SYN retries running out. A connect the application gives up on
  first (a client timeout shorter than the SYN retries) is not counted.
- ``tcp_connects`` and ``tcp_connect_latency_ms`` are not emitted: /proc has no counter of
  successful active opens and no latency at all.

Counters are for the whole namespace, not only the drill's sockets; the eBPF collectors are
finer (per socket, filtered in the kernel) and are preferred when they can run.
"""

from __future__ import annotations

import os
import time
from typing import ClassVar

from ebpf.collector import CollectorUnavailable, KernelSample, Scope, Source
from ebpf.netns import netns_inode, run_in_netns

FILES = ("snmp", "netstat")
READ_CHUNK = 65536

Counters = dict[str, int]


def parse_counters(text: str) -> Counters:
    """``Prefix: Name ...`` / ``Prefix: value ...`` line pairs -> {"Prefix:Name": value}."""
    counters: Counters = {}
    lines = text.splitlines()
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        prefix, _, names = header.partition(":")
        vprefix, _, numbers = values.partition(":")
        if prefix != vprefix:
            raise ValueError(f"unpaired /proc counter lines: {prefix!r} then {vprefix!r}")
        for name, number in zip(names.split(), numbers.split(), strict=True):
            counters[f"{prefix}:{name}"] = int(number)
    return counters


def _read_all(fd: int) -> str:
    chunks, offset = [], 0
    while chunk := os.pread(fd, READ_CHUNK, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks).decode()


def _open_net_files() -> list[int]:
    return [os.open(f"/proc/thread-self/net/{f}", os.O_RDONLY | os.O_CLOEXEC) for f in FILES]


class ProcTcpCollector:
    name: str  # an instance attribute to the Collector protocol; set per subclass
    # (metric, counter behind it) in the order samples are emitted.
    metrics: ClassVar[tuple[tuple[str, str], ...]]
    source = Source.PROC

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._fds: list[int] = []
        self._last: Counters = {}
        self._closed = False

    def attach(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self.name}: collector is closed; make a new one")
        if self._fds:
            return
        name = self.scope.netns_name
        if self.scope.netns_inodes and not name:
            raise CollectorUnavailable(
                f"{self.name}: /proc fallback needs Scope.netns_name to read a namespace's counters"
            )
        inodes = self.scope.netns_inodes
        try:
            if name and inodes and netns_inode(name) not in inodes:
                raise CollectorUnavailable(f"{self.name}: netns {name} is not in the scope")
            self._fds = run_in_netns(name, _open_net_files) if name else _open_net_files()
        except (OSError, ValueError) as exc:
            raise CollectorUnavailable(f"{self.name}: cannot open /proc counters: {exc}") from exc
        self._last = self._snapshot()

    def _snapshot(self) -> Counters:
        counters: Counters = {}
        for fd in self._fds:
            counters.update(parse_counters(_read_all(fd)))
        return counters

    def _delta(self, now: Counters, key: str) -> int:
        # A counter that went backwards (it cannot, short of a wrap) counts as nothing.
        return max(0, now.get(key, 0) - self._last.get(key, 0))

    def read(self, now: float | None = None) -> list[KernelSample]:
        if not self._fds:
            raise RuntimeError(f"{self.name}: read before attach (or after close)")
        t = time.time() if now is None else now
        current = self._snapshot()
        samples = []
        for metric, key in self.metrics:
            n = self._delta(current, key)
            labels = {"counter": key}
            if self.scope.netns_name:
                labels["netns"] = self.scope.netns_name
            labels.update(self.extra_labels(current, metric))
            samples.append(KernelSample(t, metric, float(n), Source.PROC, n, labels=labels))
        self._last = current
        return samples

    def extra_labels(self, current: Counters, metric: str) -> dict[str, str]:
        return {}

    def close(self) -> None:
        self._closed = True
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)


class ProcTcpRetransmits(ProcTcpCollector):
    name = "tcp_retransmits"
    metrics = (("tcp_retransmits", "Tcp:RetransSegs"),)

    def extra_labels(self, current: Counters, metric: str) -> dict[str, str]:
        return {"syn": str(self._delta(current, "TcpExt:TCPSynRetrans"))}


class ProcTcpResets(ProcTcpCollector):
    name = "tcp_resets"
    metrics = (
        ("tcp_resets_sent", "Tcp:OutRsts"),
        ("tcp_resets_received", "Tcp:EstabResets"),
    )


class ProcTcpConnect(ProcTcpCollector):
    name = "tcp_connect"
    metrics = (
        ("tcp_connect_attempts", "Tcp:ActiveOpens"),
        ("tcp_connect_failures", "Tcp:AttemptFails"),
    )
