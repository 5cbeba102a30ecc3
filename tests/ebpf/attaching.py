"""Attach a real collector for a test module, or skip (locally) / fail (CI) saying why not."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from ebpf.collector import Collector, CollectorUnavailable, KernelSample
from tests.conftest import have_root, require

C = TypeVar("C", bound=Collector)


@contextmanager
def attached(collector: C) -> Iterator[C]:
    require(have_root(), "needs root (eBPF programs, /proc of other processes)")
    try:
        collector.attach()
    except CollectorUnavailable as exc:
        require(False, f"{collector.name} unavailable: {exc}")
    try:
        yield collector
    finally:
        collector.close()


def interval(collector: Collector) -> dict[str, KernelSample]:
    """The collector's samples since its last read, by metric name."""
    return {s.metric: s for s in collector.read(time.time())}
