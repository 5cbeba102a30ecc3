"""What the database says at scrape time: runs, game-day runs, faults on now, hosts, the
orchestrators' run heartbeats and the notification outbox.

Custom collectors rather than counters kept in memory: the rows are shared by every process
(web processes, orchestrator workers, beat), so each web process answers the same numbers and
none is lost with a restart. The "finished" counters are counts of ended runs: they only grow,
unless an admin deletes runs (Prometheus reads a drop as a counter reset).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from drills.engine.events import EventType
from drills.engine.states import TERMINAL, RunState
from drills.gameday.progress import GAMEDAY_TERMINAL, GameDayState
from drills.playbook.model.faults import FAULTS
from drills.web.models import DrillRun, GameDayRun, Host, OutboxMessage, RunEvent
from drills.web.models.notifications import OutboxState

RUNNING = [s.value for s in RunState if s not in TERMINAL]
# Started and not ended: an orchestrator holds the run's liveness lease and beats for it.
DRIVEN = [s.value for s in RunState if s not in TERMINAL and s is not RunState.AWAITING_APPROVAL]
# What ends a fault a run applied: its revert, a revert the agent could not confirm (the run no
# longer holds it; the agent's janitor ends it with its lease), or the agent ending it first.
FAULT_ENDS = {EventType.FAULT_REVERTED, EventType.FAULT_UNCONFIRMED, EventType.FAULT_ENDED_EARLY}


def _ages(now: datetime, times: list[datetime | None]) -> list[float]:
    return [max(0.0, (now - t).total_seconds()) for t in times if t is not None]


class RunCollector(Collector):
    """Drill runs and game-day runs by state; ended ones by verdict; run heartbeats."""

    def collect(self) -> Iterator[Metric]:
        counts = dict(
            DrillRun.objects.order_by()
            .values_list("state")
            .annotate(n=Count("id"))
            .values_list("state", "n")
        )
        active = GaugeMetricFamily(
            "drillhall_runs_active",
            "Drill runs not ended yet, by state (awaiting_approval, pending, preflight, "
            "baseline, injecting, observing, reverting, recovering).",
            labels=["state"],
        )
        for state in RUNNING:
            active.add_metric([state], counts.get(state, 0))
        yield active
        finished = CounterMetricFamily(
            "drillhall_runs_finished",
            "Drill runs that have ended, by verdict (passed, failed, aborted, error).",
            labels=["verdict"],
        )
        for state in sorted(TERMINAL):
            finished.add_metric([state.value], counts.get(state.value, 0))
        yield finished
        yield from self._gameday_runs()
        yield from self._heartbeats()

    def _gameday_runs(self) -> Iterator[Metric]:
        counts = dict(
            GameDayRun.objects.order_by()
            .values_list("state")
            .annotate(n=Count("id"))
            .values_list("state", "n")
        )
        active = GaugeMetricFamily(
            "drillhall_gameday_runs_active",
            "Game-day runs not ended yet, by state (pending, running).",
            labels=["state"],
        )
        for state in GameDayState:
            if state not in GAMEDAY_TERMINAL:
                active.add_metric([state.value], counts.get(state.value, 0))
        yield active
        finished = CounterMetricFamily(
            "drillhall_gameday_runs_finished",
            "Game-day runs that have ended, by combined verdict (passed, failed, aborted, error).",
            labels=["verdict"],
        )
        for state in sorted(GAMEDAY_TERMINAL):
            finished.add_metric([state.value], counts.get(state.value, 0))
        yield finished

    def _heartbeats(self) -> Iterator[Metric]:
        """The orchestrators' liveness-lease renewals of the runs they drive, as stored."""
        now = timezone.now()
        driven = DrillRun.objects.filter(state__in=DRIVEN, started_at__isnull=False)
        ages = _ages(now, [r[0] or r[1] for r in driven.values_list("heartbeat_at", "started_at")])
        lease = settings.DRILLHALL_RUN_LEASE_SECONDS
        oldest = GaugeMetricFamily(
            "drillhall_runs_heartbeat_oldest_age_seconds",
            "Seconds since the stalest heartbeat of the runs orchestrators drive now (their "
            "liveness leases, renewed every third of DRILLHALL_RUN_LEASE_SECONDS); 0 when "
            "no run is driven.",
        )
        oldest.add_metric([], max(ages, default=0.0))
        yield oldest
        lapsed = GaugeMetricFamily(
            "drillhall_runs_heartbeat_lapsed",
            "Runs whose orchestrator has not beaten for longer than a run lease: the sweep "
            "ends them as error (orchestrator lost).",
        )
        lapsed.add_metric([], sum(1 for age in ages if age > lease))
        yield lapsed


class FaultCollector(Collector):
    """Faults on now, from the events of runs that have not ended: applied and not yet ended
    by a revert, an unconfirmed revert or the agent. The orchestrator that holds them is
    another process; its events are what every process can read."""

    def collect(self) -> Iterator[Metric]:
        events = (
            RunEvent.objects.filter(
                run__state__in=RUNNING,
                type__in=[EventType.FAULT_APPLIED, EventType.LEASE_WARNING, *FAULT_ENDS],
            )
            .order_by("run_id", "seq")
            .values_list("run_id", "type", "data")
        )
        on: dict[tuple[int, str], str] = {}  # (run, fault id) -> kind
        warned: set[tuple[int, str]] = set()
        for run_id, type_, data in events.iterator():
            fault_id = str(data.get("fault_id", "")) if isinstance(data, dict) else ""
            key = (run_id, fault_id)
            if type_ == EventType.FAULT_APPLIED:
                on[key] = str(data.get("kind", "unknown"))
            elif type_ == EventType.LEASE_WARNING:
                warned.add(key)
            else:
                on.pop(key, None)
        kinds = Counter(on.values())
        active = GaugeMetricFamily(
            "drillhall_faults_active",
            "Faults applied and not yet reverted, in runs that have not ended, by kind.",
            labels=["kind"],
        )
        for kind in sorted(set(FAULTS) | set(kinds)):
            active.add_metric([kind], kinds.get(kind, 0))
        yield active
        at_risk = GaugeMetricFamily(
            "drillhall_faults_lease_unanswered",
            "Faults on now whose lease renewal an agent left unanswered (a lease warning): "
            "if it stays silent the agent's janitor reverts the fault and the run ends in error.",
        )
        at_risk.add_metric([], sum(1 for key in on if key in warned))
        yield at_risk


class HostCollector(Collector):
    """What the database knows of hosts: how many, and when each row was last written (an
    agent's registration when it starts, or an admin's edit). No liveness signal: that is the
    agents' heartbeat in Redis (``agent_collectors``)."""

    def collect(self) -> Iterator[Metric]:
        hosts = GaugeMetricFamily(
            "drillhall_hosts",
            "Hosts in the inventory, by whether the lab registered them.",
            labels=["lab"],
        )
        rows = list(Host.objects.order_by("name").values_list("name", "lab", "updated_at"))
        for lab in (False, True):
            hosts.add_metric([str(lab).lower()], sum(1 for row in rows if row[1] is lab))
        yield hosts
        updated = GaugeMetricFamily(
            "drillhall_host_updated_timestamp_seconds",
            "Unix time the host's record was last written: its agent's registration (when "
            "the agent starts) or an admin's edit; drillhall_agent_up says whether it answers.",
            labels=["host"],
        )
        for name, _, at in rows:
            updated.add_metric([name], at.timestamp())
        yield updated


class OutboxCollector(Collector):
    """The game-day notification outbox: messages by state, and how long the oldest has waited."""

    def collect(self) -> Iterator[Metric]:
        counts = dict(
            OutboxMessage.objects.order_by()
            .values_list("state")
            .annotate(n=Count("id"))
            .values_list("state", "n")
        )
        depth = GaugeMetricFamily(
            "drillhall_outbox_messages",
            "Notification messages in the outbox, by state (pending: waiting to be sent, "
            "sent, failed: given up).",
            labels=["state"],
        )
        for state in OutboxState.values:
            depth.add_metric([state], counts.get(state, 0))
        yield depth
        oldest = OutboxMessage.objects.filter(state=OutboxState.PENDING).aggregate(
            at=Min("created_at")
        )["at"]
        age = GaugeMetricFamily(
            "drillhall_outbox_oldest_pending_age_seconds",
            "Seconds the oldest message still waiting to be sent has waited; 0 when none waits.",
        )
        age.add_metric([], max(_ages(timezone.now(), [oldest]), default=0.0))
        yield age
