"""Probe samples, time-window queries over them, and incrementally kept window statistics.

Statistics are kept per (probe, metric, window, phase start) by a ``SlidingWindow`` that each
new sample updates without re-scanning history:

* count, failures, sum and number of metric values: running totals, added on arrival and
  subtracted on eviction (exact);
* min and max: monotonic deques (exact, amortised O(1));
* percentiles: DDSketch (package ``ddsketch``, Datadog's reference implementation), one small
  sketch per time bucket of a tenth of the window, merged on query. DDSketch gives a relative
  accuracy guarantee (every quantile within ``RELATIVE_ACCURACY`` of the true value), merges
  exactly, and needs no tuning for the range of the data, unlike t-digest whose error is in
  rank. Sketches cannot forget a value, so the oldest bucket, once part of it has slid out of
  the window, is read from its remaining raw values instead of its sketch.

Samples must reach a window in time order per probe; a late one (older than the newest seen)
or a query that goes back in time makes the window rebuild itself from the store once.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from ddsketch import DDSketch

RELATIVE_ACCURACY = 0.01
BUCKETS_PER_WINDOW = 10
# Windows not queried for this long (and at least two of their own lengths) are dropped.
_IDLE_SECONDS = 60.0


@dataclass(frozen=True)
class Sample:
    """One probe observation; ``t`` is seconds on the run's clock."""

    t: float
    probe: str
    ok: bool
    latency_ms: float | None = None
    status: int | None = None
    error: str | None = None
    # A measured number that is not a latency: a Prometheus query's result, a kernel count.
    value: float | None = None
    # A canary's sequence number, set only on acknowledged writes: who reads the run's events
    # can check each acknowledged write for itself.
    seq: int | None = None


@dataclass
class _Series:
    # Parallel lists so bisect can run on plain floats.
    times: list[float] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)


class SampleStore:
    """Samples per probe, kept sorted by time, queried by half-open windows ``(start, end]``."""

    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}
        self._windows: dict[str, dict[WindowKey, SlidingWindow]] = {}

    def add(self, sample: Sample) -> None:
        for window in self._windows.get(sample.probe, {}).values():
            window.push(sample)
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

    def stats(
        self, probe: str, metric: str, window: float, since: float, now: float
    ) -> SlidingWindow:
        """Statistics of ``probe`` over ``(max(now - window, since), now]``, kept incrementally.

        ``window`` may be ``math.inf`` for everything since ``since``.
        """
        key = WindowKey(probe, metric, window, since)
        windows = self._windows.setdefault(probe, {})
        found = windows.get(key)
        if found is None:
            self._prune(now)
            found = windows[key] = SlidingWindow(metric, window, since)
            found.rebuild(self.window(probe, since, math.inf))
        elif not found.can_advance(now):
            found.rebuild(self.window(probe, since, math.inf))
        found.advance(now)
        return found

    def last(self, probe: str, metric: str, since: float, now: float) -> float | None:
        """The metric of the latest sample in ``(since, now]`` that has it."""
        series = self._series.get(probe)
        if series is None:
            return None
        lo = bisect.bisect_right(series.times, since)
        for index in range(bisect.bisect_right(series.times, now) - 1, lo - 1, -1):
            value = getattr(series.samples[index], metric)
            if value is not None:
                return float(value)
        return None

    def forget(self, window: float, since: float) -> None:
        """Drop the statistics kept for ``window`` since ``since`` (all probes and metrics)."""
        for windows in self._windows.values():
            for key in [k for k in windows if k.window == window and k.since == since]:
                del windows[key]

    def _prune(self, now: float) -> None:
        for windows in self._windows.values():
            for key in [k for k, w in windows.items() if w.idle(now)]:
                del windows[key]

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


@dataclass(frozen=True)
class WindowKey:
    probe: str
    metric: str
    window: float
    since: float


@dataclass
class _Bucket:
    index: int
    sketch: DDSketch
    values: int = 0  # metric values added
    evicted: int = 0  # of those, how many slid out of the window


@dataclass(frozen=True)
class _Entry:
    t: float
    ok: bool
    value: float | None
    bucket: int


class SlidingWindow:
    """Running statistics of one probe metric over ``(max(now - window, since), now]``."""

    def __init__(self, metric: str, window: float, since: float) -> None:
        self.metric = metric
        self.window = window
        self.since = since
        self._width = window / BUCKETS_PER_WINDOW
        self._reset()

    def _reset(self) -> None:
        self._entries: deque[_Entry] = deque()
        self._pending: deque[Sample] = deque()  # arrived, but newer than the last query
        self._buckets: deque[_Bucket] = deque()
        self._mins: deque[tuple[float, float]] = deque()  # (t, value), values increasing
        self._maxs: deque[tuple[float, float]] = deque()  # (t, value), values decreasing
        self._newest = -math.inf  # time of the newest sample pushed
        self._broken = False
        self._merged: DDSketch | None = None  # cache for this state of the window
        self._interior: tuple[tuple[int, int], DDSketch] | None = None
        self.now = -math.inf
        self.start = self.since
        self.count = 0
        self.failed = 0
        self.values = 0
        self.total = 0.0

    # -- feeding -------------------------------------------------------------------------

    def push(self, sample: Sample) -> None:
        if sample.t < self._newest:
            self._broken = True  # out of order: rebuilt from the store on the next query
            return
        self._newest = sample.t
        self._pending.append(sample)

    def can_advance(self, now: float) -> bool:
        return not self._broken and now >= self.now

    def rebuild(self, samples: list[Sample]) -> None:
        """Start over from ``samples`` (time-ordered), e.g. after an out-of-order arrival."""
        self._reset()
        for sample in samples:
            self.push(sample)

    def advance(self, now: float) -> None:
        """Take in the samples up to ``now`` and let the old ones slide out."""
        if now == self.now:
            return
        while self._pending and self._pending[0].t <= now:
            self._include(self._pending.popleft())
        self.now = now
        self.start = max(now - self.window, self.since)
        while self._entries and self._entries[0].t <= self.start:
            self._evict(self._entries.popleft())
        while self._mins and self._mins[0][0] <= self.start:
            self._mins.popleft()
        while self._maxs and self._maxs[0][0] <= self.start:
            self._maxs.popleft()
        while self._buckets and (
            not self._entries or self._buckets[0].index < self._entries[0].bucket
        ):
            self._buckets.popleft()

    def idle(self, now: float) -> bool:
        return now - self.now > max(_IDLE_SECONDS, 2 * self.window)

    def _include(self, sample: Sample) -> None:
        self._merged = None
        raw = getattr(sample, self.metric)
        value = None if raw is None else float(raw)
        index = 0 if math.isinf(self._width) else math.floor(sample.t / self._width)
        self._entries.append(_Entry(sample.t, sample.ok, value, index))
        self.count += 1
        self.failed += not sample.ok
        if value is None:
            return
        self.values += 1
        self.total += value
        while self._mins and self._mins[-1][1] >= value:
            self._mins.pop()
        self._mins.append((sample.t, value))
        while self._maxs and self._maxs[-1][1] <= value:
            self._maxs.pop()
        self._maxs.append((sample.t, value))
        if not self._buckets or self._buckets[-1].index != index:
            self._buckets.append(_Bucket(index, DDSketch(RELATIVE_ACCURACY)))
        bucket = self._buckets[-1]
        bucket.sketch.add(value)
        bucket.values += 1

    def _evict(self, entry: _Entry) -> None:
        self._merged = None
        self.count -= 1
        self.failed -= not entry.ok
        if entry.value is None:
            return
        self.values -= 1
        # Reset rather than subtract down to zero so rounding errors cannot pile up.
        self.total = self.total - entry.value if self.values else 0.0
        while self._buckets[0].index < entry.bucket:
            self._buckets.popleft()
        self._buckets[0].evicted += 1

    # -- reading -------------------------------------------------------------------------

    @property
    def span(self) -> float:
        """Seconds the window covers right now."""
        return max(self.now - self.start, 0.0)

    @property
    def minimum(self) -> float | None:
        return self._mins[0][1] if self._mins else None

    @property
    def maximum(self) -> float | None:
        return self._maxs[0][1] if self._maxs else None

    @property
    def mean(self) -> float | None:
        return self.total / self.values if self.values else None

    def percentile(self, percent: float) -> float | None:
        """Nearest-rank percentile, within ``RELATIVE_ACCURACY`` of the exact one."""
        if not self.values:
            return None
        rank = max(1, math.ceil(percent / 100.0 * self.values))
        # DDSketch reads the value at rank q * (n - 1) (0-based, counts > rank); aiming half a
        # sample below the nearest rank lands on it whatever the rounding.
        quantile = 0.0 if self.values == 1 else min(1.0, (rank - 0.5) / (self.values - 1))
        estimate = self._sketch().get_quantile_value(quantile)
        if estimate is None:
            return None
        # The exact extremes can only bring the estimate closer to the true value.
        low, high = self.minimum, self.maximum
        assert low is not None and high is not None
        return min(max(estimate, low), high)

    def _sketch(self) -> DDSketch:
        if self._merged is not None:
            return self._merged
        merged = DDSketch(RELATIVE_ACCURACY)
        buckets = list(self._buckets)
        if len(buckets) > 2:
            merged.merge(self._interior_sketch(buckets[1:-1]))
        oldest = buckets[0]
        if oldest.evicted:
            for entry in self._entries:
                if entry.bucket > oldest.index:
                    break
                if entry.value is not None:
                    merged.add(entry.value)
        else:
            merged.merge(oldest.sketch)
        if len(buckets) > 1:
            merged.merge(buckets[-1].sketch)
        self._merged = merged
        return merged

    def _interior_sketch(self, interior: list[_Bucket]) -> DDSketch:
        # Buckets between the oldest and the newest no longer change: merge them once.
        key = (interior[0].index, interior[-1].index)
        if self._interior is None or self._interior[0] != key:
            sketch = DDSketch(RELATIVE_ACCURACY)
            for bucket in interior:
                sketch.merge(bucket.sketch)
            self._interior = (key, sketch)
        return self._interior[1]
