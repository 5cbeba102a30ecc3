"""What Redis says of the agents at scrape time: their heartbeats and the fault-lease renewals
the orchestrators sent them.

Neither is in the database: an agent writes its heartbeat to its own Redis key each time its
worker answers its own ping (``injector.heartbeat``), and the orchestrators count renewals in
a Redis hash (``lease_renewals``). Both are shared by every process, like the database. When
Redis does not answer, the scrape still answers, with these families empty and
``drillhall_agent_metrics_readable`` at 0.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from drills.web.metrics import lease_renewals
from drills.web.metrics.lease_renewals import Outcome
from drills.web.models import Host
from injector import heartbeat

log = logging.getLogger(__name__)


class AgentCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        hosts = list(Host.objects.order_by("name").values_list("name", flat=True))
        client = lease_renewals.client()
        try:
            beats = heartbeat.last_beats(client, hosts)
            renewals = lease_renewals.counts(client)
            readable = True
        except redis.RedisError as exc:
            log.warning("/metrics: Redis did not answer for the agents' figures: %s", exc)
            beats, renewals, readable = {}, [], False
        ok = GaugeMetricFamily(
            "drillhall_agent_metrics_readable",
            "1 when Redis answered for the agents' heartbeats and lease renewals in this "
            "scrape; 0 when it did not (those families are then empty).",
        )
        ok.add_metric([], 1 if readable else 0)
        yield ok
        yield from self._heartbeats(hosts, beats, readable)
        yield from self._renewals(renewals)

    def _heartbeats(
        self, hosts: list[str], beats: dict[str, float], readable: bool
    ) -> Iterator[Metric]:
        last = GaugeMetricFamily(
            "drillhall_agent_heartbeat_timestamp_seconds",
            "Unix time (the agent's clock) its worker last answered its own ping through the "
            "broker, every 5 s while it takes tasks; hosts with no heartbeat in a day have none.",
            labels=["host"],
        )
        for host, at in sorted(beats.items()):
            last.add_metric([host], at)
        yield last
        up = GaugeMetricFamily(
            "drillhall_agent_up",
            f"1 when the host's agent answered its own ping in the last "
            f"{heartbeat.STALE_AFTER:g} s (it takes faults), 0 when not, for every host "
            "in the inventory.",
            labels=["host"],
        )
        if readable:
            now = time.time()
            for host in hosts:
                fresh = host in beats and now - beats[host] <= heartbeat.STALE_AFTER
                up.add_metric([host], 1 if fresh else 0)
        yield up

    def _renewals(self, renewals: list[lease_renewals.RenewalCount]) -> Iterator[Metric]:
        sent = CounterMetricFamily(
            "drillhall_lease_renewals_sent",
            "Fault-lease renewals the orchestrators sent to each host's agent (every third "
            "of DRILLHALL_LEASE_SECONDS for each fault on).",
            labels=["host"],
        )
        answered = CounterMetricFamily(
            "drillhall_lease_renewals",
            "Fault-lease renewals by what became of them: renewed; not_renewed (the agent "
            "says the fault already ended); refused (by the agent's gate); failed (the task "
            "failed or its answer was unreadable); not_sent (the broker did not take it). "
            "Sent and none of these: not answered in time.",
            labels=["host", "outcome"],
        )
        for c in renewals:
            if c.outcome is Outcome.SENT:
                sent.add_metric([c.host], c.n)
            else:
                answered.add_metric([c.host, c.outcome.value], c.n)
        yield sent
        yield answered
