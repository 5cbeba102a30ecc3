"""Kernel evidence in the verifier: the samples the agents' collectors send, and proof of effect.

A fault the kernel can see must leave a trace on the hosts involved while it is on: failed
connects or retransmits for a partition, slow or failed syscalls for an IO fault. Which
trace proves which fault is the fault kind's own rule, a ``Proof`` (each playbook fault model
says its own, in drills/playbook/model/faults.py); this module judges a ``Proof`` against the
samples and names no fault kind.

When the collectors ran on every host involved and saw none of it, the fault was applied but
changed nothing (no traffic crossed it, nobody used the directory, or it cut the wrong thing),
and the run says so instead of passing. Without evidence from some host it says it cannot tell.

Evidence that was lost is not evidence of no effect. Each host's agent sends a beat after every
interval's samples (``injector.protocol.EvidenceBeat``); where a host's beats stop for more than
``GAP_INTERVALS`` intervals inside a fault's window, that span's samples never arrived (a broker
restart, an agent gone), and the judgement is "cannot tell", with the span, never "no effect".
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Samples cover the interval before their time: the one that ends just after a revert still
# holds events from while the fault was on.
LATE_SECONDS = 1.5
IO_OPERATIONS = ("read", "write", "fsync")
# An IO call counts as slowed when its histogram bucket reaches this share of the delay
# (IO fault proofs set ``slow_ms`` with it).
SLOW_SHARE = 0.5
# A beat may come late by most of an interval (the agent reads, then sends); more than this
# many intervals without one is a gap, not a late beat.
GAP_INTERVALS = 2.5


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%H:%M:%S")


@dataclass(frozen=True)
class Gap:
    """A span with no evidence from ``host``: samples up to ``start`` arrived, and none again
    until ``end``. ``unread``: why the run itself could not fetch samples meanwhile, if so."""

    host: str
    start: float
    end: float
    unread: str = ""

    def describe(self) -> str:
        cause = (
            f"the run could not fetch them: {self.unread}"
            if self.unread
            else "the samples were lost, e.g. a broker restart"
        )
        return (
            f"kernel evidence from {self.host} is missing from {_clock(self.start)} to "
            f"{_clock(self.end)} UTC ({cause})"
        )


@dataclass(frozen=True)
class Proof:
    """What shows a fault took effect: any count of ``counters``, or any ``histograms`` event
    in a bucket reaching ``slow_ms``."""

    counters: tuple[str, ...] = ()
    histograms: tuple[str, ...] = ()
    slow_ms: float = 0.0

    def describe(self) -> str:
        parts = [m.replace("_", " ") for m in self.counters]
        parts += [f"{m.removesuffix('_latency_ms')} calls of {self.slow_ms:g} ms or more"
                  for m in self.histograms]  # fmt: skip
        return ", ".join(parts)


@dataclass(frozen=True)
class KernelPoint:
    t: float
    host: str
    metric: str
    value: float
    source: str = "ebpf"
    buckets: tuple[tuple[float, int], ...] = ()  # (upper bound in ms, events), histograms only


@dataclass
class EvidenceLog:
    """Kernel samples by (host, metric), in time order, for sums over a fault's window."""

    _series: dict[tuple[str, str], tuple[list[float], list[KernelPoint]]] = field(
        default_factory=dict
    )
    _beats: dict[str, list[float]] = field(default_factory=dict)  # by host, in time order
    _intervals: dict[str, float] = field(default_factory=dict)  # each host's read interval
    _unread: list[tuple[float, str]] = field(default_factory=list)  # the run's failed fetches

    def add(self, point: KernelPoint) -> None:
        times, points = self._series.setdefault((point.host, point.metric), ([], []))
        index = bisect.bisect_right(times, point.t)
        times.insert(index, point.t)
        points.insert(index, point)

    def beat(self, host: str, t: float, interval: float) -> None:
        """``host`` sent every sample of the interval ending at ``t``."""
        bisect.insort(self._beats.setdefault(host, []), t)
        self._intervals[host] = interval

    def last_beat(self, host: str) -> float | None:
        """When ``host``'s newest interval that arrived ended, or None if none did."""
        times = self._beats.get(host)
        return times[-1] if times else None

    def unread(self, t: float, reason: str) -> None:
        """At ``t`` the run could not fetch the samples waiting for it (``reason``)."""
        self._unread.append((t, reason))

    def hosts(self) -> set[str]:
        """Hosts whose collectors ran: they sent samples, or beats (all of them zero)."""
        return {host for host, _ in self._series} | set(self._beats)

    def gaps(self, host: str, start: float, end: float) -> list[Gap]:
        """Spans within ``start``..``end`` with no beat from ``host`` for more than
        ``GAP_INTERVALS`` intervals. A host that never sent a beat has none: its agent
        predates beats, and only its samples can be judged."""
        times = self._beats.get(host)
        if not times:
            return []
        interval = self._intervals[host]
        before = bisect.bisect_right(times, start)
        after = bisect.bisect_right(times, end)
        # (time, is a beat): the beats around and inside the window. Where no beat brackets
        # it, the window's edge stands in: no beat since the start, or none until the end,
        # is a gap as well.
        first = (times[before - 1], True) if before else (start, False)
        last = (times[after], True) if after < len(times) else (end, False)
        points = [first, *((t, True) for t in times[before:after]), last]
        found = []
        for (previous, _), (following, is_beat) in zip(points, points[1:], strict=False):
            if following - previous <= GAP_INTERVALS * interval:
                continue
            # A beat covers its own interval: evidence resumed one interval before it.
            resumed = following - interval if is_beat else following
            found.append(Gap(host, previous, resumed, self._unread_in(previous, following)))
        return found

    def _unread_in(self, start: float, end: float) -> str:
        reasons = [reason for t, reason in self._unread if start <= t <= end + LATE_SECONDS]
        return reasons[-1] if reasons else ""

    def _window(self, host: str, metric: str, start: float, end: float) -> list[KernelPoint]:
        series = self._series.get((host, metric))
        if series is None:
            return []
        times, points = series
        return points[bisect.bisect_right(times, start) : bisect.bisect_right(times, end)]

    def total(self, hosts: list[str], metrics: tuple[str, ...], start: float, end: float) -> float:
        """Sum of the metrics on the hosts over samples with start < t <= end."""
        return sum(
            p.value
            for host in hosts
            for metric in metrics
            for p in self._window(host, metric, start, end)
        )

    def slow(
        self, hosts: list[str], metrics: tuple[str, ...], slow_ms: float, start: float, end: float
    ) -> int:
        """Events in histogram buckets whose upper bound reaches ``slow_ms``."""
        return sum(
            n
            for host in hosts
            for metric in metrics
            for p in self._window(host, metric, start, end)
            for bound, n in p.buckets
            if bound >= slow_ms
        )


@dataclass(frozen=True)
class Judgement:
    """Whether a fault showed an effect: ``judged`` is False when evidence is missing."""

    judged: bool
    message: str


def no_effect(
    proof: Proof | None,
    hosts: list[str],
    start: float,
    end: float,
    log: EvidenceLog,
) -> Judgement | None:
    """None when the fault showed its ``proof`` (or has none: the collectors cannot see it);
    else why not.

    Every host involved must have sent evidence: the effect of a partition shows on the side
    that tries to connect, which is often not the host the fault is applied on.
    """
    if proof is None:
        return None
    watched = log.hosts()
    seen = [h for h in hosts if h in watched]
    window = (start, end + LATE_SECONDS)
    if proof.counters and log.total(seen, proof.counters, *window) > 0:
        return None
    if proof.histograms and log.slow(seen, proof.histograms, proof.slow_ms, *window) > 0:
        return None
    missing = sorted(h for h in hosts if h not in watched)
    unknown = [f"no kernel evidence from {', '.join(missing)}"] if missing else []
    # Zeros are no effect only where the evidence is complete: a lost span could hold it all.
    unknown += [gap.describe() for h in sorted(seen) for gap in log.gaps(h, start, end)]
    if unknown:
        return Judgement(False, "cannot tell whether the fault took effect: " + "; ".join(unknown))
    return Judgement(
        True,
        f"fault applied, no effect seen: no {proof.describe()} on {', '.join(sorted(hosts))} "
        "while it was on",
    )
