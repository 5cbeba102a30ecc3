"""Probe samples and time-window queries over them."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    """One probe observation; ``t`` is seconds on the run's clock."""

    t: float
    probe: str
    ok: bool
    latency_ms: float | None = None
    status: int | None = None
    error: str | None = None


@dataclass
class _Series:
    # Parallel lists so bisect can run on plain floats.
    times: list[float] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)


class SampleStore:
    """Samples per probe, kept sorted by time, queried by half-open windows ``(start, end]``."""

    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}

    def add(self, sample: Sample) -> None:
        series = self._series.setdefault(sample.probe, _Series())
        if not series.times or sample.t >= series.times[-1]:
            series.times.append(sample.t)
            series.samples.append(sample)
            return
        # Late arrivals (probes finish out of order) go after samples with an equal time.
        index = bisect.bisect_right(series.times, sample.t)
        series.times.insert(index, sample.t)
        series.samples.insert(index, sample)

    def window(self, probe: str, start: float, end: float) -> list[Sample]:
        """Samples of ``probe`` with ``start < t <= end``, oldest first."""
        series = self._series.get(probe)
        if series is None or end <= start:
            return []
        lo = bisect.bisect_right(series.times, start)
        hi = bisect.bisect_right(series.times, end)
        return series.samples[lo:hi]

    def discard_before(self, t: float) -> None:
        """Forget samples with a time before ``t`` (bounds memory on long runs)."""
        for series in self._series.values():
            cut = bisect.bisect_left(series.times, t)
            del series.times[:cut]
            del series.samples[:cut]

    def probes(self) -> list[str]:
        return sorted(self._series)

    def __len__(self) -> int:
        return sum(len(series.times) for series in self._series.values())

    def __iter__(self) -> Iterator[Sample]:
        for name in self.probes():
            yield from self._series[name].samples
