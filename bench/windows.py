"""What evaluating SLAs costs per sample: incremental window statistics next to a naive scan.

    .venv/bin/python bench/windows.py

Ten minutes of one probe at 10 samples/s (6,000 samples, latencies log-normal, 2% errors);
after every sample the three SLAs below are evaluated, as the engine does on each tick. The
incremental side is the verifier as it is (``SampleStore.stats``: running totals, monotonic
min/max, DDSketch buckets); the naive side is the same evaluator over a store whose ``stats``
re-scans the window and sorts it on every query, as the verifier did before. Prints the mean
and the 99th percentile cost per sample over the whole run and over the last minute (windows
full), in microseconds, and checks that both sides reached the same verdicts.
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verifier.assertions.evaluate import call_value, evaluate  # noqa: E402
from verifier.assertions.syntax import parse_assertion  # noqa: E402
from verifier.windows import Sample, SampleStore  # noqa: E402

SLAS = (
    "p99(checkout.latency_ms, 30s) < 2 * baseline.p99(checkout.latency_ms)",
    "error_rate(checkout, 1m) < 5%",
    "avg(checkout, 5m) < 300ms and max(checkout, 5m) < 2s",
)
RATE = 10  # samples per second
SECONDS = 600
BASELINE_SECONDS = 60  # the before phase, whose p99 is the baseline


class _Scan:
    """The statistics of one window, computed from scratch by scanning it."""

    def __init__(self, samples: list[Sample], metric: str, span: float) -> None:
        self.count = len(samples)
        self.failed = sum(1 for s in samples if not s.ok)
        self.span = span
        self._sorted = sorted(
            float(v) for v in (getattr(s, metric) for s in samples) if v is not None
        )
        self.values = len(self._sorted)
        self.mean = sum(self._sorted) / self.values if self.values else None
        self.minimum = self._sorted[0] if self._sorted else None
        self.maximum = self._sorted[-1] if self._sorted else None

    def percentile(self, percent: float) -> float | None:
        if not self._sorted:
            return None
        return self._sorted[max(1, math.ceil(percent / 100.0 * self.values)) - 1]


class ScanStore(SampleStore):
    """A store that answers window queries by scanning, keeping nothing between queries."""

    def stats(self, probe: str, metric: str, window: float, since: float, now: float):  # type: ignore[override]
        start = max(now - window, since)
        return _Scan(self.window(probe, start, now), metric, max(now - start, 0.0))


def _samples(seed: int = 7) -> list[Sample]:
    rng = random.Random(seed)
    samples = []
    for i in range(1, RATE * SECONDS + 1):
        ok = rng.random() > 0.02
        latency = rng.lognormvariate(math.log(40), 0.6) if ok else None
        samples.append(
            Sample(i / RATE, "checkout", ok, latency_ms=latency, status=200 if ok else 503)
        )
    return samples


def run(store: SampleStore, samples: list[Sample]) -> tuple[list[float], list[tuple]]:
    exprs = [parse_assertion(text) for text in SLAS]
    baseline_call = next(c for c in exprs[0].calls() if c.baseline)
    baseline = None
    costs, verdicts = [], []
    for sample in samples:
        store.add(sample)
        now = sample.t
        if baseline is None and now >= BASELINE_SECONDS:
            # Frozen once at the end of the before phase; not part of the per-sample cost.
            stats = store.stats("checkout", "latency_ms", math.inf, 0.0, now)
            baseline = {("p99", "checkout", "latency_ms"): call_value(baseline_call, stats)}
        began = time.perf_counter()
        outcomes = [evaluate(expr, store, now=now, since=0.0, baseline=baseline) for expr in exprs]
        costs.append(time.perf_counter() - began)
        verdicts.append(tuple(outcome.holds for outcome in outcomes))
    return costs, verdicts


def _summary(costs: list[float]) -> str:
    micros = sorted(c * 1e6 for c in costs)
    p99 = micros[max(1, math.ceil(0.99 * len(micros))) - 1]
    return f"mean {statistics.fmean(micros):8.1f}  p99 {p99:8.1f}"


def main() -> None:
    samples = _samples()
    incremental, fast = run(SampleStore(), samples)
    naive, slow = run(ScanStore(), samples)
    last_minute = RATE * 60
    print(f"{len(samples)} samples, 3 SLAs evaluated after each; microseconds per sample")
    print(f"{'':14}{'incremental':>28}    {'naive scan':>28}")
    print(f"{'whole run':14}{_summary(incremental):>28}    {_summary(naive):>28}")
    print(
        f"{'last minute':14}{_summary(incremental[-last_minute:]):>28}    "
        f"{_summary(naive[-last_minute:]):>28}"
    )
    ratio = statistics.fmean(naive[-last_minute:]) / statistics.fmean(incremental[-last_minute:])
    print(f"naive / incremental, last minute: {ratio:.1f}x")
    differ = sum(1 for a, b in zip(fast, slow, strict=True) if a != b)
    print(f"ticks whose verdicts differ (sketch vs exact p99): {differ} of {len(fast)}")


if __name__ == "__main__":
    main()
