"""No run left open: a run whose orchestrator is gone ends as error, after its agents were asked;
a run whose orchestrator lives, or whose lease was only lost with a Redis restart, goes on.

Real database and a real Redis (the tests' own database); the agents are a fake driver, since
what is tested is what the reaper does with their answers.
"""

from __future__ import annotations

import time
from datetime import timedelta
from unittest import mock

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from drills.engine.driver import AgentUnavailable
from drills.web import liveness, orchestrator
from drills.web.hosts import register_host
from drills.web.liveness import Reaper, RunLease, end_lost_run, lease_alive
from drills.web.models import DrillRun
from drills.web.orchestrator import execute_run
from drills.web.run_control import create_run
from injector.protocol import FaultState, RevertReply
from tests.web.personas import World

pytestmark = pytest.mark.django_db(transaction=True)


class Agents:
    """Answers for the reaper's questions: what each host's agent says of a fault."""

    def __init__(self, answers: dict[str, FaultState | None]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def revert(self, queue: str, fault_id: str, timeout: float) -> RevertReply:
        host = queue.removeprefix("agent.")
        self.asked.append(fault_id)
        state = self.answers.get(host)
        if state is None:
            raise AgentUnavailable(f"the agent of host {host} did not answer within 5 s")
        return RevertReply(fault_id, host, state, "worker died")


@pytest.fixture(autouse=True)
def test_redis(needs_redis: str, monkeypatch: pytest.MonkeyPatch) -> redis.Redis:
    monkeypatch.setattr(settings, "REDIS_URL", needs_redis)
    return redis.Redis.from_url(needs_redis)


@pytest.fixture
def started(world: World) -> DrillRun:
    """A run in the middle of its partition, claimed by an orchestrator a minute ago."""
    register_host("web", "10.77.0.2", "dh-web")
    register_host("db1", "10.77.0.3", "dh-db1")
    run = create_run(world.version, world.member)
    DrillRun.objects.filter(id=run.id).update(
        state="observing", started_at=timezone.now() - timedelta(minutes=1)
    )
    run.refresh_from_db()
    return run


def test_a_lost_run_ends_as_error_with_what_its_agents_said(started: DrillRun) -> None:
    agents = Agents({"db1": FaultState.REVERTED})
    assert end_lost_run(started, agents)
    run = DrillRun.objects.get(id=started.id)
    assert agents.asked == [f"r{run.key}-s2-a1"]  # the stored plan's fault, asked by its id
    events = [(e.type, e.data) for e in run.events.order_by("seq")]
    assert [t for t, _ in events] == ["state", "fault_reverted", "error", "state", "result"]
    assert events[0][1] == {"state": "reverting", "previous": "observing"}
    reason = (
        "orchestrator lost during observing: the network.partition fault on db1 is reverted, "
        "its agent confirms (worker died)"
    )
    assert events[2][1] == {"message": reason}
    assert run.state == "error" and run.finished_at is not None
    assert run.result == events[-1][1] and run.result["reason"] == reason
    # Once: a second reaper finds it ended.
    assert not end_lost_run(run, agents)
    assert run.events.count() == 5


def test_an_agent_that_does_not_answer_is_said_so_not_assumed(started: DrillRun) -> None:
    assert end_lost_run(started, Agents({"db1": None}))
    run = DrillRun.objects.get(id=started.id)
    assert "on db1: its agent did not answer, its own lease reverts it" in run.result["reason"]
    assert run.events.filter(type="fault_unconfirmed").count() == 1


def test_the_reaper_ends_a_run_only_once_its_heartbeat_is_older_than_a_lease(
    started: DrillRun,
) -> None:
    reaper = Reaper(lease_seconds=4)
    with mock.patch.object(liveness, "end_lost_run", return_value=True) as end:
        lease = RunLease(started.id, 4).start()
        assert reaper.sweep() == [] and lease_alive(started, 4)
        lease.stop()  # the orchestrator died: its beats stop
        DrillRun.objects.filter(id=started.id).update(
            heartbeat_at=timezone.now() - timedelta(seconds=3.5)
        )
        assert reaper.sweep() == []  # its last beat is still within the lease
        DrillRun.objects.filter(id=started.id).update(
            heartbeat_at=timezone.now() - timedelta(seconds=4.5)
        )
        assert reaper.sweep() == [started.id]
        end.assert_called_once()


def test_a_live_orchestrator_keeps_beating_through_a_redis_restart(
    started: DrillRun, test_redis: redis.Redis
) -> None:
    # The beats are in the database: a broker that comes and goes is not a dead orchestrator.
    lease = RunLease(started.id, 0.3).start()
    try:
        test_redis.flushdb()
        time.sleep(0.5)
        assert lease_alive(started, 0.3)
        with mock.patch.object(liveness, "end_lost_run", return_value=True) as end:
            assert Reaper(lease_seconds=0.3).sweep() == []
            end.assert_not_called()
    finally:
        lease.stop()


def test_a_redelivered_task_finishes_the_clean_up_of_a_lost_run(started: DrillRun) -> None:
    with mock.patch.object(orchestrator, "end_lost_run", return_value=True) as end:
        assert execute_run(started.key) == "ended: orchestrator lost"
        end.assert_called_once()


def test_a_redelivered_task_leaves_a_live_run_to_its_orchestrator(started: DrillRun) -> None:
    lease = RunLease(started.id, 4).start()
    try:
        with mock.patch.object(orchestrator, "end_lost_run") as end:
            assert execute_run(started.key) == "driven by another orchestrator"
            end.assert_not_called()
    finally:
        lease.stop()


def test_a_task_for_another_databases_run_is_said_so(world: World) -> None:
    assert execute_run("0123456789abcdef0123456789abcdef") == "unknown run"


def test_a_pending_run_whose_message_was_lost_is_handed_over_again(world: World) -> None:
    register_host("web", "10.77.0.2", "dh-web")
    register_host("db1", "10.77.0.3", "dh-db1")
    run = create_run(world.version, world.member)
    long_ago = timezone.now() - timedelta(seconds=40)
    DrillRun.objects.filter(id=run.id).update(enqueued_at=long_ago)
    with mock.patch("drills.web.tasks.run_drill.apply_async") as apply_async:
        Reaper(requeue_seconds=30, pending_limit=600).sweep()
        apply_async.assert_called_once_with(
            args=[run.key], queue=settings.DRILLHALL_ORCHESTRATOR_QUEUE, retry=False
        )
    assert DrillRun.objects.get(id=run.id).enqueued_at > long_ago


def test_a_run_no_orchestrator_takes_ends_with_a_reason(world: World) -> None:
    register_host("web", "10.77.0.2", "dh-web")
    register_host("db1", "10.77.0.3", "dh-db1")
    run = create_run(world.version, world.member)
    DrillRun.objects.filter(id=run.id).update(created_at=timezone.now() - timedelta(hours=1))
    Reaper(requeue_seconds=30, pending_limit=600).sweep()
    run.refresh_from_db()
    assert run.state == "error"
    assert run.result["reason"].startswith("no orchestrator took the run within 600 s")
