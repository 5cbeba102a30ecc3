"""Kernel evidence in the verifier: the samples the agents' collectors send, and proof of effect.

A fault whose effect TCP can see (a partition, loss, resets) must leave a trace in the kernel
counters of the hosts involved while it is on: connect failures, retransmits or resets. When
the collectors ran and saw none of it, the fault was applied but had no effect on anything
(no traffic crossed it, or it cut the wrong thing), and the run says so instead of passing.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

# fault kind -> the kernel metrics, any of which shows the fault took effect
PROOF_METRICS: dict[str, tuple[str, ...]] = {
    "network.partition": (
        "tcp_connect_failures",
        "tcp_retransmits",
        "tcp_resets_received",
        "tcp_resets_sent",
    ),
    "network.loss": ("tcp_retransmits",),
    "network.reset": ("tcp_resets_received", "tcp_resets_sent"),
}
# Samples cover the interval before their time: the one that ends just after a revert still
# holds events from while the fault was on.
LATE_SECONDS = 1.5


@dataclass(frozen=True)
class KernelPoint:
    t: float
    host: str
    metric: str
    value: float
    source: str = "ebpf"

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> KernelPoint:
        return cls(
            float(message["t"]),
            str(message["host"]),
            str(message["metric"]),
            float(message["value"]),
            str(message.get("source", "ebpf")),
        )


@dataclass
class EvidenceLog:
    """Kernel samples by (host, metric), in time order, for sums over a fault's window."""

    _times: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    _values: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def add(self, point: KernelPoint) -> None:
        key = (point.host, point.metric)
        times = self._times.setdefault(key, [])
        values = self._values.setdefault(key, [])
        index = bisect.bisect_right(times, point.t)
        times.insert(index, point.t)
        values.insert(index, point.value)

    def hosts(self) -> set[str]:
        return {host for host, _ in self._times}

    def total(self, hosts: list[str], metrics: tuple[str, ...], start: float, end: float) -> float:
        """Sum of the metrics on the hosts over samples with start < t <= end."""
        total = 0.0
        for host in hosts:
            for metric in metrics:
                times = self._times.get((host, metric))
                if not times:
                    continue
                lo = bisect.bisect_right(times, start)
                hi = bisect.bisect_right(times, end)
                total += sum(self._values[(host, metric)][lo:hi])
        return total


@dataclass(frozen=True)
class Judgement:
    """Whether a fault showed an effect: ``judged`` is False when evidence is missing."""

    judged: bool
    message: str


def no_effect(
    kind: str, hosts: list[str], start: float, end: float, log: EvidenceLog
) -> Judgement | None:
    """None when the fault showed its effect (or is not one TCP can see); else why not.

    Every host involved must have sent evidence: the effect of a partition shows on the side
    that tries to connect, which is often not the host the fault is applied on.
    """
    metrics = PROOF_METRICS.get(kind)
    if metrics is None:
        return None
    watched = log.hosts()
    if log.total([h for h in hosts if h in watched], metrics, start, end + LATE_SECONDS) > 0:
        return None
    missing = sorted(h for h in hosts if h not in watched)
    if missing:
        return Judgement(
            False,
            f"cannot tell whether the fault took effect: no kernel evidence from "
            f"{', '.join(missing)}",
        )
    return Judgement(
        True,
        f"fault applied, no effect seen: no {', '.join(m.replace('_', ' ') for m in metrics)} "
        f"on {', '.join(sorted(hosts))} while it was on",
    )
