from __future__ import annotations

from verifier.windows import Sample, SampleStore


def _store(*times: float, probe: str = "p") -> SampleStore:
    store = SampleStore()
    for t in times:
        store.add(Sample(t=t, probe=probe, ok=True))
    return store


def test_window_is_open_at_start_and_closed_at_end() -> None:
    store = _store(1.0, 2.0, 3.0, 4.0)
    assert [s.t for s in store.window("p", 1.0, 3.0)] == [2.0, 3.0]


def test_late_samples_are_kept_in_time_order() -> None:
    store = _store(1.0, 3.0, 2.0, 0.5, 3.0)
    assert [s.t for s in store.window("p", 0.0, 10.0)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_windows_are_per_probe() -> None:
    store = _store(1.0, 2.0)
    store.add(Sample(t=1.5, probe="q", ok=False))
    assert [s.t for s in store.window("q", 0.0, 5.0)] == [1.5]
    assert store.window("missing", 0.0, 5.0) == []
    assert store.probes() == ["p", "q"] and len(store) == 3


def test_empty_or_inverted_window_is_empty() -> None:
    store = _store(1.0, 2.0)
    assert store.window("p", 2.0, 2.0) == []
    assert store.window("p", 3.0, 1.0) == []


def test_discard_before_forgets_old_samples() -> None:
    store = _store(1.0, 2.0, 3.0)
    store.discard_before(2.0)
    assert [s.t for s in store.window("p", 0.0, 5.0)] == [2.0, 3.0]


def test_large_store_window_query_is_fast() -> None:
    import time

    store = _store(*(i * 0.01 for i in range(200_000)))
    started = time.perf_counter()
    for i in range(1000):
        store.window("p", i, i + 3.0)
    assert time.perf_counter() - started < 0.5
