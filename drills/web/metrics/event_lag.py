"""How late a run's events reach the live page: from the event's own time (the runner's clock
when it emitted it) to the moment this process sends it down a websocket.

This process's own histogram: the send happens here (drills/web/consumers.py), so nothing is
shared with other processes; each web process reports what it sent (Prometheus tells them
apart by ``instance``). Only live events count: a replay on connect sends old events on
purpose, and their age says nothing of lag.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Histogram

# From a few milliseconds (same machine) to the seconds a stalled channel layer costs.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class EventLag:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.histogram = Histogram(
            "drillhall_event_lag_seconds",
            "Seconds from a run event's time to its send down a live page's websocket, "
            "for live events sent by this web process (replays are not counted).",
            buckets=BUCKETS,
            registry=registry,
        )

    def observe(self, event_time: float, now: float | None = None) -> None:
        sent = time.time() if now is None else now
        # A clock a little ahead on the orchestrator's machine is no negative lag.
        self.histogram.observe(max(0.0, sent - event_time))
