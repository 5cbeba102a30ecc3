"""Time from a run's start to its first fault, as a histogram over every run that applied one.

Read from the stored events at scrape time (the run's ``started_at`` to its first
``fault_applied``), not observed by the orchestrator that writes the event: that is another
process, often on another machine, and a histogram kept there would be lost with it and never
reach this one. Each run counts once, from its first fault on, so the histogram only grows, as
Prometheus expects of one.

The figure of an ended run never changes, so the collector keeps it (one number per run) and
asks the database only about runs it has not seen end: a scrape costs one row per run plus the
events of new and running runs up to their first fault.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import OuterRef, Subquery
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from drills.engine.events import EventType
from drills.engine.states import TERMINAL
from drills.web.models import DrillRun, RunEvent

# A baseline of seconds to minutes, and drills that wait long before they strike.
BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
ENDED = {s.value for s in TERMINAL}
CHUNK = 500


def seconds_to_first_fault(started_at: datetime, first_fault_t: float | None) -> float | None:
    if first_fault_t is None:
        return None
    # The runner's clock and the database's may differ by a little: never below zero.
    return max(0.0, first_fault_t - started_at.timestamp())


def histogram(values: Iterable[float], buckets: tuple[float, ...] = BUCKETS) -> Metric:
    values = sorted(values)
    counts = [(str(le), sum(1 for v in values if v <= le)) for le in buckets]
    family = HistogramMetricFamily(
        "drillhall_run_first_fault_seconds",
        "Seconds from a run's start (claimed by an orchestrator) to its first fault applied, "
        "over every run that applied one.",
        buckets=[*counts, ("+Inf", len(values))],
        sum_value=sum(values),
    )
    return family


class FirstFaultCollector(Collector):
    def __init__(self) -> None:
        # run id -> seconds (None: it ended without a fault), for ended runs only.
        self._ended: dict[int, float | None] = {}
        self._lock = threading.Lock()  # daphne answers sync views from a thread pool

    def collect(self) -> Iterator[Metric]:
        yield histogram(self.values())

    def values(self) -> list[float]:
        with self._lock:
            started = DrillRun.objects.filter(started_at__isnull=False).values_list("id", "state")
            present = dict(started.iterator())
            # Runs deleted since (an admin may delete them) leave the histogram too.
            for gone in set(self._ended) - set(present):
                del self._ended[gone]
            unknown = [run_id for run_id in present if run_id not in self._ended]
            running: list[float] = []
            for start in range(0, len(unknown), CHUNK):
                for run_id, state, seconds in self._first_faults(unknown[start : start + CHUNK]):
                    if state in ENDED:
                        self._ended[run_id] = seconds
                    elif seconds is not None:
                        running.append(seconds)
            return [s for s in self._ended.values() if s is not None] + running

    def _first_faults(self, ids: list[int]) -> Iterator[tuple[int, str, float | None]]:
        first = (
            RunEvent.objects.filter(run=OuterRef("pk"), type=EventType.FAULT_APPLIED)
            .order_by("seq")
            .values("t")[:1]
        )
        rows = (
            DrillRun.objects.filter(id__in=ids)
            .annotate(first_fault_t=Subquery(first))
            .values_list("id", "state", "started_at", "first_fault_t")
        )
        for run_id, state, started_at, first_fault_t in rows:
            yield run_id, state, seconds_to_first_fault(started_at, first_fault_t)
