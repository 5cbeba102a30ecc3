"""What every kernel collector is: a scope it watches, samples it yields, and four methods.

A collector (eBPF or its /proc fallback) is attached once per drill on a target host, read once
per interval (1 s by default), and closed when the drill ends or its lease runs out. ``read``
returns what happened since the previous read and starts a new interval, so a sample is a
per-interval count or a per-interval latency summary, never a running total.

Plain Python with no bcc import: bcc is imported lazily by the eBPF loaders only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Source(StrEnum):
    EBPF = "ebpf"
    PROC = "proc"  # the /proc fallback: coarser, and labelled as such in the run


@dataclass(frozen=True)
class Scope:
    """Whose evidence a collector keeps: a drill's targets, never the whole machine.

    Network collectors keep events of the listed network namespaces (by inode, as in
    ``os.stat('/run/netns/NAME').st_ino``); process collectors keep events of the listed pids
    or cgroup ids. An empty scope means "this whole host" and is only used on purpose.
    """

    netns_inodes: frozenset[int] = frozenset()
    pids: frozenset[int] = frozenset()
    cgroup_ids: frozenset[int] = frozenset()
    # The namespace to read per-namespace /proc files (/proc/net/snmp) from, for the fallback.
    netns_name: str = ""


@dataclass(frozen=True)
class KernelSample:
    """One metric over one interval.

    ``metric`` names what was measured (``tcp_retransmits``, ``read_latency_ms``);
    ``value`` is the count in the interval for counters, the mean for latencies (ms);
    ``count`` is the number of events behind a latency value; ``buckets`` is the latency
    histogram of the interval as ``{upper bound in ms: events}`` (log2 buckets), read from the
    kernel map as numbers; ``labels`` say more about the sample (``op: read``).
    """

    t: float  # end of the interval, time.time()
    metric: str
    value: float
    source: Source
    count: int = 0
    buckets: dict[float, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "t": self.t,
            "metric": self.metric,
            "value": self.value,
            "source": self.source.value,
            "count": self.count,
            # JSON keys are strings; keep bounds readable ("0.064", "1.0").
            "buckets": {f"{bound:g}": n for bound, n in sorted(self.buckets.items())},
            "labels": dict(self.labels),
        }


class CollectorUnavailable(RuntimeError):
    """This collector cannot run here; the message says why and how to fix it."""


class Collector(Protocol):
    name: str  # the playbook's collector name: tcp_retransmits, syscall_latency, ...
    source: Source

    def attach(self) -> None:
        """Start collecting; raises CollectorUnavailable saying why it cannot."""

    def read(self, now: float) -> list[KernelSample]:
        """Samples for the interval since the last read (or attach); starts the next one."""

    def close(self) -> None:
        """Detach and free everything; safe to call twice."""
