from __future__ import annotations

import math

import pytest

from verifier.assertions.evaluate import Outcome, baseline_key, call_value, evaluate
from verifier.assertions.syntax import parse_assertion
from verifier.windows import Sample, SampleStore


def _store(samples: list[tuple[float, bool, float | None]], probe: str = "checkout") -> SampleStore:
    store = SampleStore()
    for t, ok, latency in samples:
        store.add(Sample(t=t, probe=probe, ok=ok, latency_ms=latency, status=200 if ok else 503))
    return store


def _eval(text: str, store: SampleStore, now: float, since: float = 0.0) -> Outcome:
    return evaluate(parse_assertion(text), store, now=now, since=since)


def test_error_rate_is_a_percentage_of_failed_samples() -> None:
    store = _store([(1, True, 10), (2, False, None), (3, False, None), (4, True, 12)])

    outcome = _eval("error_rate(checkout, 10s) < 50%", store, now=4)
    assert outcome == Outcome(holds=False, value=50.0)
    assert _eval("availability(checkout, 10s) >= 50%", store, now=4) == Outcome(True, 50.0)


def test_window_only_sees_the_last_seconds() -> None:
    store = _store([(1, False, None), (2, False, None), (3, True, 5), (4, True, 5)])

    assert _eval("error_rate(checkout, 2s) < 10%", store, now=4) == Outcome(True, 0.0)
    assert _eval("error_rate(checkout, 3s) < 10%", store, now=4).value == pytest.approx(100 / 3)


def test_window_does_not_reach_before_since() -> None:
    store = _store([(1, False, None), (2, False, None), (3, True, 5)])

    assert _eval("error_rate(checkout, 10s) == 0", store, now=3, since=2).holds is True
    assert _eval("error_rate(checkout, 10s) == 0", store, now=3, since=0).holds is False


def test_samples_after_now_are_ignored() -> None:
    store = _store([(1, True, 5), (5, False, None)])
    assert _eval("error_rate(checkout, 10s) == 0", store, now=2).holds is True


def test_latency_percentiles_use_nearest_rank_within_sketch_accuracy() -> None:
    store = _store([(i, True, float(i * 10)) for i in range(1, 11)])  # 10..100 ms

    # The sketch answers within 1% of the nearest-rank value, never the neighbour's value.
    assert _eval("p50(checkout, 60s) < 0", store, now=10).value == pytest.approx(50, rel=0.01)
    assert _eval("p90(checkout, 60s) < 0", store, now=10).value == pytest.approx(90, rel=0.01)
    assert _eval("p50(checkout, 60s) > 49.4 and p50(checkout, 60s) < 50.6", store, now=10).holds
    assert _eval("p99(checkout, 60s) < 0.1s", store, now=10) == Outcome(False, 100.0)
    assert _eval("avg(checkout, 60s) == 55", store, now=10).holds is True
    assert _eval("min(checkout, 60s) == 10 and max(checkout, 60s) == 100", store, now=10).holds


def test_latency_ignores_samples_without_a_latency() -> None:
    store = _store([(1, False, None), (2, True, 40)])
    assert _eval("max(checkout, 5s) == 40", store, now=2).holds is True


def test_status_metric() -> None:
    store = _store([(1, True, 5), (2, False, None)])
    assert _eval("max(checkout.status, 5s) >= 500", store, now=2) == Outcome(True, 503.0)


def test_no_samples_is_unknown_not_false() -> None:
    store = SampleStore()

    assert _eval("error_rate(checkout, 5s) < 5%", store, now=10) == Outcome(None, None)
    assert _eval("not p99(checkout, 5s) > 100", store, now=10).holds is None


def test_count_of_an_empty_window_is_zero() -> None:
    assert _eval("count(checkout, 5s) > 0", SampleStore(), now=10) == Outcome(False, 0.0)


def test_kleene_logic_for_and_or_with_unknown() -> None:
    store = _store([(1, True, 5)])
    unknown = "error_rate(other, 5s) < 5"
    true = "error_rate(checkout, 5s) < 5"
    false = "error_rate(checkout, 5s) > 5"

    assert _eval(f"{unknown} and {false}", store, now=2).holds is False
    assert _eval(f"{unknown} and {true}", store, now=2).holds is None
    assert _eval(f"{unknown} or {true}", store, now=2).holds is True
    assert _eval(f"{unknown} or {false}", store, now=2).holds is None


def test_value_is_left_side_of_first_comparison() -> None:
    store = _store([(1, True, 30), (2, True, 70)])
    outcome = _eval("avg(checkout, 5s) < 100 and max(checkout, 5s) < 100", store, now=2)
    assert outcome == Outcome(True, 50.0)


def test_rate_is_samples_per_second_of_the_window_inside_the_phase() -> None:
    store = _store([(t / 10, True, 5) for t in range(1, 101)])  # 10 samples/s for 10 s

    assert _eval("rate(checkout, 5s) == 10", store, now=10).holds is True
    # Only 2 s of the 5 s window lie in the phase: still 10 per second, not 4.
    assert _eval("rate(checkout, 5s) < 0", store, now=10, since=8).value == pytest.approx(10)
    assert _eval("rate(checkout, 5s) == 0", _store([]), now=10).holds is True


def test_last_reads_the_latest_sample_with_the_metric_in_the_phase() -> None:
    store = _store([(1, True, 30), (2, True, 70), (3, False, None)])

    assert _eval("last(checkout) == 70", store, now=3).holds is True
    assert _eval("last(checkout.status) == 503", store, now=3).holds is True
    assert _eval("last(checkout) == 30", store, now=1.5).holds is True  # not from the future
    assert _eval("last(checkout) > 0", store, now=3, since=2).holds is None


def test_arithmetic_on_values() -> None:
    store = _store([(1, True, 30), (2, True, 70)])

    assert _eval("avg(checkout, 5s) * 2 - 10 == 90", store, now=2).holds is True
    assert _eval("max(checkout, 5s) / min(checkout, 5s) > 2.3", store, now=2).holds is True
    assert _eval("(avg(checkout, 5s) + 1s) / 2 == 525", store, now=2).holds is True
    # Unknown operands and division by zero make the comparison unknown, not an error.
    assert _eval("avg(other, 5s) + 1 > 0", store, now=2).holds is None
    assert _eval("avg(checkout, 5s) / (min(checkout, 5s) - 30) > 0", store, now=2).holds is None


def test_baseline_is_unknown_until_given() -> None:
    store = _store([(1, True, 30), (2, True, 70)])
    expr = parse_assertion("max(checkout, 5s) < 2 * baseline.avg(checkout)")

    assert evaluate(expr, store, now=2, since=0).holds is None
    frozen = {("avg", "checkout", "latency_ms"): 40.0}
    assert evaluate(expr, store, now=2, since=0, baseline=frozen) == Outcome(True, 70.0)
    frozen = {("avg", "checkout", "latency_ms"): 30.0}
    assert evaluate(expr, store, now=2, since=0, baseline=frozen).holds is False


def test_windowed_evaluation_matches_the_store_after_many_ticks() -> None:
    store = SampleStore()
    for i in range(1, 2001):
        store.add(Sample(t=i / 10, probe="checkout", ok=i % 10 != 0, latency_ms=float(i % 50)))
        if i % 3 == 0:
            outcome = _eval("error_rate(checkout, 5s) < 0", store, now=i / 10, since=1.0)
            in_window = [j for j in range(1, i + 1) if max(i / 10 - 5, 1.0) < j / 10]
            failed = sum(1 for j in in_window if j % 10 == 0)
            expected = 100 * failed / len(in_window) if in_window else None
            assert outcome.value == pytest.approx(expected)


def _values(probe: str, points: list[tuple[float, float]]) -> SampleStore:
    store = SampleStore()
    for t, value in points:
        store.add(Sample(t=t, probe=probe, ok=True, value=value))
    return store


def test_value_reads_the_number_a_probe_measured() -> None:
    store = _values("up", [(1, 1.0), (2, 1.0), (3, 0.0)])
    for t, value in [(1, 40.0), (2, 120.0), (3, 80.0)]:
        store.add(Sample(t=t, probe="queue_depth", ok=True, value=value, latency_ms=3.0))

    assert _eval("last(up.value) == 1", store, now=2).holds is True
    assert _eval("last(up.value) == 1", store, now=3) == Outcome(False, 0.0)
    assert _eval("avg(queue_depth.value, 30s) < 100", store, now=3) == Outcome(True, 80.0)
    assert _eval("max(queue_depth.value, 1s) < 100", store, now=3).holds is True
    assert _eval("max(queue_depth.value, 2s) < 100", store, now=3).holds is False
    # A failed query has no value: it does not count as zero.
    store.add(Sample(t=4, probe="up", ok=False, error="empty result"))
    assert _eval("last(up.value) == 0", store, now=4).holds is True
    assert _eval("min(up.value, 1s) == 0", store, now=4).holds is None


def test_kernel_count_and_rate_add_up_the_events_of_each_interval() -> None:
    # One sample a second, the retransmits of that second: 10 events in the last 5 s.
    store = _values("kernel.tcp_retransmits", [(t, v) for t, v in enumerate([0, 0, 1, 4, 0, 5], 1)])

    assert _eval("count(kernel.tcp_retransmits, 5s) == 10", store, now=6).holds is True
    assert _eval("rate(kernel.tcp_retransmits, 5s) < 10", store, now=6) == Outcome(True, 2.0)
    assert _eval("rate(kernel.tcp_retransmits, 2s) > 2", store, now=6) == Outcome(True, 2.5)
    assert _eval("last(kernel.tcp_retransmits) == 5", store, now=6).holds is True
    assert _eval("max(kernel.tcp_retransmits, 4s) == 5", store, now=6).holds is True
    assert _eval("avg(kernel.tcp_retransmits, 4s) == 2.5", store, now=6).holds is True
    # Only 1 s of the window lies in the phase: 5 events in 1 s.
    assert _eval("rate(kernel.tcp_retransmits, 5s) < 0", store, now=6, since=5).value == 5.0


def test_a_kernel_series_that_is_not_reporting_is_unknown_not_zero() -> None:
    store = _values("kernel.tcp_retransmits", [(1, 3.0)])

    for text in (
        "count(kernel.tcp_retransmits, 5s) < 10",
        "rate(kernel.tcp_retransmits, 5s) < 10",
        "max(kernel.tcp_retransmits, 5s) < 10",
    ):
        assert _eval(text, store, now=20) == Outcome(None, None)
    assert _eval("count(kernel.tcp_resets_sent, 5s) == 0", store, now=1).holds is None


def test_kernel_latency_series_compare_with_times() -> None:
    store = _values("kernel.read_latency_ms", [(t, float(t)) for t in range(1, 11)])

    assert _eval("p99(kernel.read_latency_ms, 30s) < 20ms", store, now=10).holds is True
    assert _eval("max(kernel.read_latency_ms, 30s) >= 0.01s", store, now=10).holds is True


def test_a_kernel_baseline_is_the_before_phases_rate() -> None:
    store = _values("kernel.tcp_retransmits", [(t, 1.0) for t in range(1, 11)])
    series = "kernel.tcp_retransmits"
    expr = parse_assertion(f"rate({series}, 5s) <= 2 * baseline.rate({series})")
    _, baseline_call = expr.calls()
    # As the verdict engine freezes it: the function over the whole before phase.
    frozen = call_value(baseline_call, store.stats(baseline_call.probe, "value", math.inf, 0, 10))
    assert frozen == pytest.approx(1.0)
    for t in range(11, 16):
        store.add(Sample(t=t, probe="kernel.tcp_retransmits", ok=True, value=3.0))
    baseline = {baseline_key(baseline_call): frozen}
    assert evaluate(expr, store, now=15, since=10, baseline=baseline) == Outcome(False, 3.0)
