"""Incremental window statistics against a brute-force reference on random data."""

from __future__ import annotations

import math
import random

import pytest

from verifier.windows import RELATIVE_ACCURACY, Sample, SampleStore, SlidingWindow

SEEDS = range(24)
PERCENTS = (50.0, 90.0, 95.0, 99.0)


def _samples(rng: random.Random, n: int) -> list[Sample]:
    """Irregular arrivals (with bursts of equal times), a wide, skewed latency spread, and
    values like a kernel collector's per-interval counts (mostly small, zeros, bursts)."""
    samples, t = [], 0.0
    for _ in range(n):
        t += 0.0 if rng.random() < 0.05 else rng.expovariate(10.0)
        ok = rng.random() > 0.15
        latency = round(rng.lognormvariate(3.0, 1.2), 3) if ok or rng.random() < 0.3 else None
        value = None if rng.random() < 0.1 else float(rng.choice([0, 0, 1, 2, 3, 40, 1500]))
        samples.append(
            Sample(
                t=t, probe="p", ok=ok, latency_ms=latency, status=200 if ok else 503, value=value
            )
        )
    return samples


def _nearest_rank(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percent / 100.0 * len(ordered))) - 1]


def _check(
    stats: SlidingWindow, reference: list[Sample], span: float, metric: str = "latency_ms"
) -> None:
    assert stats.count == len(reference)
    assert stats.failed == sum(not s.ok for s in reference)
    assert stats.span == pytest.approx(span, abs=1e-9)
    values = [getattr(s, metric) for s in reference if getattr(s, metric) is not None]
    assert stats.values == len(values)
    # The running sum: what count() and rate() of a kernel series read.
    assert stats.total == pytest.approx(sum(values), rel=1e-9, abs=1e-9)
    if not values:
        assert stats.mean is None and stats.minimum is None and stats.percentile(99) is None
        return
    assert stats.minimum == min(values) and stats.maximum == max(values)
    assert stats.mean == pytest.approx(sum(values) / len(values), rel=1e-9)
    for percent in PERCENTS:
        exact = _nearest_rank(values, percent)
        assert stats.percentile(percent) == pytest.approx(exact, rel=RELATIVE_ACCURACY + 1e-9)


@pytest.mark.parametrize("metric", ["latency_ms", "value"])
@pytest.mark.parametrize("seed", SEEDS)
def test_sliding_window_matches_brute_force(seed: int, metric: str) -> None:
    rng = random.Random(seed)
    samples = _samples(rng, rng.randint(300, 1200))
    window = rng.choice([0.3, 1.0, 2.5, 10.0, 30.0, math.inf])
    since = rng.uniform(0.0, samples[-1].t / 3)
    store = SampleStore()
    now, fed = 0.0, 0
    while fed < len(samples):
        now += rng.uniform(0.02, 1.5)
        # Samples a little ahead of the clock wait until a query reaches them.
        while fed < len(samples) and samples[fed].t <= now + 0.05:
            store.add(samples[fed])
            fed += 1
        stats = store.stats("p", metric, window, since, now)
        start = max(now - window, since)
        reference = [s for s in samples[:fed] if start < s.t <= now]
        _check(stats, reference, max(now - start, 0.0), metric)


@pytest.mark.parametrize("seed", range(5))
def test_late_samples_and_a_clock_going_back_rebuild_the_window(seed: int) -> None:
    rng = random.Random(1000 + seed)
    samples = _samples(rng, 400)
    shuffled = samples[:]
    # Swap neighbours here and there: a probe result that arrives after a newer one.
    for i in range(0, len(shuffled) - 1, 7):
        shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
    store = SampleStore()
    now, fed = 0.0, 0
    while fed < len(shuffled):
        now += rng.uniform(0.1, 0.8)
        while fed < len(shuffled) and shuffled[fed].t <= now:
            store.add(shuffled[fed])
            fed += 1
        asked = now - rng.uniform(0.0, 0.5) if rng.random() < 0.2 else now
        stats = store.stats("p", "latency_ms", 3.0, 0.0, asked)
        start = max(asked - 3.0, 0.0)
        _check(stats, [s for s in shuffled[:fed] if start < s.t <= asked], asked - start)


def test_window_forgets_evicted_extremes_exactly() -> None:
    store = SampleStore()
    for t, latency in [(1, 500.0), (2, 1.0), (3, 40.0), (4, 30.0)]:
        store.add(Sample(t=t, probe="p", ok=True, latency_ms=latency))
    stats = store.stats("p", "latency_ms", 2.0, 0.0, 4.0)
    assert (stats.minimum, stats.maximum, stats.count) == (30.0, 40.0, 2)
    assert store.stats("p", "latency_ms", 10.0, 0.0, 4.0).maximum == 500.0


def test_windows_idle_for_long_are_dropped() -> None:
    store = SampleStore()
    store.add(Sample(t=1.0, probe="p", ok=True, latency_ms=1.0))
    first = store.stats("p", "latency_ms", 5.0, 0.0, 2.0)
    store.stats("p", "latency_ms", 5.0, 100.0, 200.0)  # another phase, much later
    assert store.stats("p", "latency_ms", 5.0, 0.0, 201.0) is not first


def test_each_sample_updates_the_kept_window_instead_of_a_rescan() -> None:
    store = SampleStore()
    kept = None
    for i in range(1, 200):
        store.add(Sample(t=i / 4, probe="p", ok=True, latency_ms=float(i)))
        stats = store.stats("p", "latency_ms", 5.0, 0.0, i / 4)
        assert kept is None or stats is kept
        kept = stats
    assert kept is not None and kept.count == 20 and kept.minimum == 180.0
