"""The registry /metrics answers from: the database's and Redis' collectors, this process's
event lag, and the process's own figures (memory, CPU, open files) from prometheus_client.

Its own registry rather than prometheus_client's global one, so that nothing a library
registers there is served here by accident.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

from drills.web.metrics.agent_collectors import AgentCollector
from drills.web.metrics.database_collectors import (
    FaultCollector,
    HostCollector,
    OutboxCollector,
    RunCollector,
)
from drills.web.metrics.event_lag import EventLag
from drills.web.metrics.first_fault import FirstFaultCollector

REGISTRY = CollectorRegistry(auto_describe=False)
for collector in (
    RunCollector(),
    FaultCollector(),
    FirstFaultCollector(),
    HostCollector(),
    AgentCollector(),
    OutboxCollector(),
):
    REGISTRY.register(collector)
ProcessCollector(namespace="drillhall", registry=REGISTRY)
EVENT_LAG = EventLag(REGISTRY)


def exposition() -> bytes:
    """Every metric in Prometheus' text format, read now."""
    return generate_latest(REGISTRY)
