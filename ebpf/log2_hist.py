"""Latency summaries from the kernel's log2 histograms (``bpf_log2l`` of microseconds).

``bpf_log2l(v)`` is 0 for v = 0 and floor(log2 v) + 1 otherwise, so slot s holds values
below 2**s microseconds: its upper bound is 2**s / 1000 ms (slot 6 -> 0.064 ms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ebpf.collector import KernelSample, Source


def slot_bound_ms(slot: int) -> float:
    return float(1 << slot) / 1000.0


@dataclass
class LatencyTotals:
    """What one interval saw for one kind of event: count, summed ns, errors, histogram."""

    count: int = 0
    sum_ns: int = 0
    errors: int = 0
    buckets: dict[float, int] = field(default_factory=dict)

    def add_slot(self, slot: int, n: int) -> None:
        if not n:
            return  # a slot read between its creation and its increment: no event, no bucket
        bound = slot_bound_ms(slot)
        self.buckets[bound] = self.buckets.get(bound, 0) + n

    @property
    def mean_ms(self) -> float:
        return self.sum_ns / self.count / 1e6 if self.count else 0.0

    def sample(self, t: float, metric: str, labels: dict[str, str] | None = None) -> KernelSample:
        """This interval as a latency sample: mean ms, count of events, log2 buckets."""
        return KernelSample(t, metric, self.mean_ms, Source.EBPF, count=self.count,
                            buckets=self.buckets, labels=labels or {})  # fmt: skip
