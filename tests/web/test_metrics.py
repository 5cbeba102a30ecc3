"""/metrics: what each collector reads from the database, and who may scrape.

The collectors run against the test database through the real view (the Django test client),
and the answer is read back with prometheus_client's own parser, as Prometheus would.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from drills.web.hosts import register_host
from drills.web.metrics import lease_renewals
from drills.web.metrics.first_fault import FirstFaultCollector
from drills.web.metrics.lease_renewals import Outcome
from drills.web.models import (
    DrillRun,
    GameDay,
    NotificationChannel,
    OutboxMessage,
    RunEvent,
)
from injector.heartbeat import beat
from injector.protocol import agent_heartbeat_key
from tests.conftest import free_port
from tests.web.gameday_scene import GameDayScene
from tests.web.personas import World, make_run

TOKEN = "metrics-token-for-the-tests-0123456789"


def scrape(client: Client | None = None, **headers: Any) -> dict[tuple[str, tuple], float]:
    """Every sample of a scrape, by (name, sorted labels)."""
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def event(run: DrillRun, seq: int, type_: str, t: float, **data: Any) -> RunEvent:
    return RunEvent.objects.create(run=run, seq=seq, type=type_, t=t, data=data)


def started(run: DrillRun, seconds_ago: float, heartbeat_ago: float | None = None) -> DrillRun:
    now = timezone.now()
    run.started_at = now - timedelta(seconds=seconds_ago)
    run.heartbeat_at = None if heartbeat_ago is None else now - timedelta(seconds=heartbeat_ago)
    run.save(update_fields=["started_at", "heartbeat_at"])
    return run


# --- what is counted --------------------------------------------------------------------------


def test_runs_are_counted_by_state_and_ended_ones_by_verdict(world: World) -> None:
    for state in ("pending", "observing", "observing", "passed", "passed", "failed", "error"):
        make_run(world.version, world.operator, state=state)
    samples = scrape()
    assert value(samples, "drillhall_runs_active", state="pending") == 1
    assert value(samples, "drillhall_runs_active", state="observing") == 2
    assert value(samples, "drillhall_runs_active", state="awaiting_approval") == 0
    assert value(samples, "drillhall_runs_finished_total", verdict="passed") == 2
    assert value(samples, "drillhall_runs_finished_total", verdict="failed") == 1
    assert value(samples, "drillhall_runs_finished_total", verdict="error") == 1
    assert value(samples, "drillhall_runs_finished_total", verdict="aborted") == 0
    assert ("drillhall_runs_active", (("state", "passed"),)) not in samples


def test_game_day_runs_are_counted_by_state(gd: GameDayScene) -> None:
    samples = scrape()
    assert value(samples, "drillhall_gameday_runs_active", state="running") == 1
    assert value(samples, "drillhall_gameday_runs_finished_total", verdict="passed") == 0
    type(gd.run).objects.filter(id=gd.run.id).update(state="failed")
    samples = scrape()
    assert value(samples, "drillhall_gameday_runs_active", state="running") == 0
    assert value(samples, "drillhall_gameday_runs_finished_total", verdict="failed") == 1


def test_faults_on_now_are_those_applied_and_not_ended_in_runs_that_go_on(world: World) -> None:
    t = time.time()
    going = make_run(world.version, world.operator, state="observing")
    event(going, 1, "fault_applied", t, fault_id="f1", kind="network.partition", host="db1")
    event(going, 2, "fault_applied", t, fault_id="f2", kind="network.latency", host="web")
    event(going, 3, "fault_applied", t, fault_id="f3", kind="network.latency", host="db1")
    event(going, 4, "fault_reverted", t, fault_id="f2", host="web", state="reverted")
    event(going, 5, "lease_warning", t, fault_id="f3", host="db1", message="…")
    # An unconfirmed revert and a fault the agent ended are not the run's any more.
    event(going, 6, "fault_applied", t, fault_id="f4", kind="io.delay", host="db2")
    event(going, 7, "fault_unconfirmed", t, fault_id="f4", host="db2", state="unconfirmed")
    event(going, 8, "fault_applied", t, fault_id="f5", kind="io.delay", host="db2")
    event(going, 9, "fault_ended_early", t, fault_id="f5", host="db2", kind="io.delay")
    # A run that ended holds nothing, whatever its events say (its orchestrator was lost).
    ended = make_run(world.version, world.operator, state="error")
    event(ended, 1, "fault_applied", t, fault_id="g1", kind="network.partition", host="db1")
    samples = scrape()
    assert value(samples, "drillhall_faults_active", kind="network.partition") == 1
    assert value(samples, "drillhall_faults_active", kind="network.latency") == 1
    assert value(samples, "drillhall_faults_active", kind="io.delay") == 0
    assert value(samples, "drillhall_faults_active", kind="stress.cpu") == 0  # every kind listed
    assert value(samples, "drillhall_faults_lease_unanswered") == 1


def test_time_to_first_fault_counts_each_run_once_from_its_first_fault(world: World) -> None:
    quick = started(make_run(world.version, world.operator, state="passed"), 100)
    assert quick.started_at is not None
    begin = quick.started_at.timestamp()
    event(quick, 1, "state", begin + 1, state="baseline")
    event(quick, 2, "fault_applied", begin + 4, fault_id="a", kind="network.loss")
    event(quick, 3, "fault_applied", begin + 50, fault_id="b", kind="network.loss")
    slow = started(make_run(world.version, world.operator, state="injecting"), 200)
    assert slow.started_at is not None
    event(slow, 1, "fault_applied", slow.started_at.timestamp() + 45, fault_id="c", kind="io.delay")
    started(make_run(world.version, world.operator, state="passed"), 50)  # no fault at all
    make_run(world.version, world.operator, state="pending")  # not started
    samples = scrape()
    count = value(samples, "drillhall_run_first_fault_seconds_count")
    assert count == 2
    assert value(samples, "drillhall_run_first_fault_seconds_bucket", le="2.0") == 0
    assert value(samples, "drillhall_run_first_fault_seconds_bucket", le="5.0") == 1
    assert value(samples, "drillhall_run_first_fault_seconds_bucket", le="30.0") == 1
    assert value(samples, "drillhall_run_first_fault_seconds_bucket", le="60.0") == 2
    assert value(samples, "drillhall_run_first_fault_seconds_bucket", le="+Inf") == 2
    assert value(samples, "drillhall_run_first_fault_seconds_sum") == pytest.approx(49, abs=0.01)


def test_an_ended_runs_figure_is_read_once_and_forgotten_with_the_run(
    world: World, django_assert_max_num_queries: Any
) -> None:
    collector = FirstFaultCollector()
    run = started(make_run(world.version, world.operator, state="passed"), 100)
    assert run.started_at is not None
    event(run, 1, "fault_applied", run.started_at.timestamp() + 3, fault_id="a", kind="io.delay")
    assert collector.values() == [pytest.approx(3, abs=0.01)]
    # Known and ended: one query for the list of runs, none for its events.
    RunEvent.objects.filter(run=run).delete()
    with django_assert_max_num_queries(1):
        assert collector.values() == [pytest.approx(3, abs=0.01)]
    run.delete()
    assert collector.values() == []


def test_runs_whose_orchestrator_stopped_beating_are_counted(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DRILLHALL_RUN_LEASE_SECONDS = 10.0
    started(make_run(world.version, world.operator, state="observing"), 60, heartbeat_ago=2)
    started(make_run(world.version, world.operator, state="injecting"), 60, heartbeat_ago=35)
    started(make_run(world.version, world.operator, state="passed"), 600, heartbeat_ago=500)
    samples = scrape()
    assert value(samples, "drillhall_runs_heartbeat_lapsed") == 1
    assert value(samples, "drillhall_runs_heartbeat_oldest_age_seconds") == pytest.approx(35, abs=2)


def test_hosts_say_when_their_record_was_last_written(db) -> None:  # type: ignore[no-untyped-def]
    before = time.time()
    register_host("db1", "10.77.0.3", "dh-db1", lab=True)
    register_host("edge", "192.0.2.10")
    samples = scrape()
    assert value(samples, "drillhall_hosts", lab="true") == 1
    assert value(samples, "drillhall_hosts", lab="false") == 1
    written = value(samples, "drillhall_host_updated_timestamp_seconds", host="db1")
    assert before - 1 <= written <= time.time() + 1


def test_the_outbox_is_counted_by_state_with_the_age_of_the_oldest_waiting(db) -> None:  # type: ignore[no-untyped-def]
    samples = scrape()
    assert value(samples, "drillhall_outbox_messages", state="pending") == 0
    assert value(samples, "drillhall_outbox_oldest_pending_age_seconds") == 0
    channel = NotificationChannel.objects.create(name="ops", kind="slack")
    day = GameDay.objects.create(name="day")

    def message(key: str, state: str, age: float) -> None:
        row = OutboxMessage.objects.create(
            channel=channel, gameday=day, dedupe_key=key, event="gameday_started",
            text="t", state=state, next_attempt_at=timezone.now(),
        )  # fmt: skip
        OutboxMessage.objects.filter(id=row.id).update(
            created_at=timezone.now() - timedelta(seconds=age)
        )

    message("a", "pending", 120)
    message("b", "pending", 5)
    message("c", "sent", 900)
    message("d", "failed", 3000)
    samples = scrape()
    assert value(samples, "drillhall_outbox_messages", state="pending") == 2
    assert value(samples, "drillhall_outbox_messages", state="sent") == 1
    assert value(samples, "drillhall_outbox_messages", state="failed") == 1
    assert value(samples, "drillhall_outbox_oldest_pending_age_seconds") == pytest.approx(
        120, abs=2
    )


def test_every_metric_is_drillhalls_with_help_text(db) -> None:  # type: ignore[no-untyped-def]
    response = Client().get("/metrics")
    families = list(text_string_to_metric_families(response.content.decode()))
    assert len(families) >= 15
    for family in families:
        assert family.name.startswith("drillhall_"), family.name
        assert family.documentation.strip(), family.name


# --- who may scrape ---------------------------------------------------------------------------


def test_a_client_outside_the_allowed_networks_is_refused_with_a_sentence(db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DRILLHALL_METRICS_ALLOW = (ipaddress.ip_network("127.0.0.0/8"),)
    response = Client(REMOTE_ADDR="192.0.2.7").get("/metrics")
    assert response.status_code == 403
    assert response.content.decode() == (
        "Metrics are served only to addresses in DRILLHALL_METRICS_ALLOW (127.0.0.0/8); "
        "192.0.2.7 is not among them.\n"
    )
    settings.DRILLHALL_METRICS_ALLOW = (ipaddress.ip_network("192.0.2.0/24"),)
    assert Client(REMOTE_ADDR="192.0.2.7").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403


def test_an_ipv4_client_on_an_ipv6_socket_is_judged_by_its_ipv4_address(db) -> None:  # type: ignore[no-untyped-def]
    assert Client(REMOTE_ADDR="::ffff:127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::ffff:192.0.2.7").get("/metrics").status_code == 403


def test_with_a_token_set_only_requests_that_carry_it_are_served(db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DRILLHALL_METRICS_TOKEN = TOKEN
    missing = Client().get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == 'Bearer realm="drillhall metrics"'
    assert "need the token set in DRILLHALL_METRICS_TOKEN" in missing.content.decode()
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer " + TOKEN[:-1] + "x")
    assert wrong.status_code == 401
    assert TOKEN not in wrong.content.decode()
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Basic " + TOKEN).status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer " + TOKEN).status_code == 200
    assert Client().get("/metrics", HTTP_AUTHORIZATION="bearer " + TOKEN).status_code == 200
    # The token does not open the door to an address outside the list.
    far = Client(REMOTE_ADDR="192.0.2.7").get("/metrics", HTTP_AUTHORIZATION="Bearer " + TOKEN)
    assert far.status_code == 403


def test_a_signed_in_admin_gets_nothing_more(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DRILLHALL_METRICS_TOKEN = TOKEN
    client = Client()
    client.force_login(world.admin)
    assert client.get("/metrics").status_code == 401


def test_only_get_is_answered(db) -> None:  # type: ignore[no-untyped-def]
    assert Client().post("/metrics").status_code == 405


# --- what Redis says of the agents ------------------------------------------------------------


@pytest.fixture
def redis_figures(settings, needs_redis: str) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The tests' Redis for the agents' figures, and a suffix of this test's own for host
    names, so that other runs' heartbeats and renewals on the same Redis do not count."""
    settings.REDIS_URL = needs_redis
    suffix = uuid.uuid4().hex[:8]
    yield suffix
    client = redis.Redis.from_url(needs_redis)
    for field in client.hkeys(lease_renewals.KEY):
        if suffix in field.decode():
            client.hdel(lease_renewals.KEY, field)
    client.delete(*[agent_heartbeat_key(f"{n}-{suffix}") for n in ("up", "late", "forged")])


def test_agents_are_up_while_they_beat_and_down_when_the_beat_is_late_or_forged(
    db,
    redis_figures: str,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    up, late, forged, never = (f"{n}-{redis_figures}" for n in ("up", "late", "forged", "never"))
    for i, name in enumerate((up, late, forged, never)):
        register_host(name, f"192.0.2.{20 + i}")
    client = redis.Redis.from_url(settings.REDIS_URL)
    now = time.time()
    beat(client, up, now=now - 2)  # what an agent writes each time it answers its own ping
    beat(client, late, now=now - 60)
    client.set(agent_heartbeat_key(forged), "nan")  # an agent's own key says what it likes
    samples = scrape()
    assert value(samples, "drillhall_agent_metrics_readable") == 1
    assert value(samples, "drillhall_agent_up", host=up) == 1
    assert value(samples, "drillhall_agent_up", host=late) == 0
    assert value(samples, "drillhall_agent_up", host=forged) == 0
    assert value(samples, "drillhall_agent_up", host=never) == 0
    stamp = value(samples, "drillhall_agent_heartbeat_timestamp_seconds", host=up)
    assert stamp == pytest.approx(now - 2, abs=0.01)
    assert ("drillhall_agent_heartbeat_timestamp_seconds", (("host", forged),)) not in samples


def test_lease_renewals_are_counted_by_host_and_what_became_of_them(
    db,
    redis_figures: str,  # type: ignore[no-untyped-def]
) -> None:
    host = f"db-{redis_figures}"
    for outcome in [Outcome.SENT] * 4 + [Outcome.RENEWED] * 2 + [Outcome.NOT_RENEWED]:
        lease_renewals.count(host, outcome)
    lease_renewals.count(host, Outcome.NOT_SENT)
    samples = scrape()
    assert value(samples, "drillhall_lease_renewals_sent_total", host=host) == 4
    assert value(samples, "drillhall_lease_renewals_total", host=host, outcome="renewed") == 2
    assert value(samples, "drillhall_lease_renewals_total", host=host, outcome="not_renewed") == 1
    assert value(samples, "drillhall_lease_renewals_total", host=host, outcome="not_sent") == 1
    assert ("drillhall_lease_renewals_total", (("host", host), ("outcome", "refused"))) not in (
        samples
    )


def test_the_scrape_answers_when_redis_does_not(db, settings) -> None:  # type: ignore[no-untyped-def]
    register_host("edge", "192.0.2.10")
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    samples = scrape()
    assert value(samples, "drillhall_agent_metrics_readable") == 0
    assert value(samples, "drillhall_hosts", lab="false") == 1
    assert not any(name == "drillhall_agent_up" for name, _ in samples)
