"""Game-day runs in the database: drills start in order, once each; the policy stops the day;
the combined result and the outbox are written with the change (no workers: drills are ended
here as their orchestrator would end them)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from drills.engine.events import EventType
from drills.web.gameday_runs import advance, start_gameday, stop_gameday
from drills.web.models import AuditEntry, DrillRun, GameDayRun, OutboxMessage
from drills.web.stream import RunEventSink
from tests.web.gamedays import store_two_waits

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(private_queue: str) -> str:
    return private_queue


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password="x" * 12)


def end_drill(drill: DrillRun, state: str, reason: str, breach: str | None = None) -> None:
    """What the orchestrator writes when a drill ends."""
    sink = RunEventSink(drill.id)
    t = timezone.now().timestamp()
    sink.emit(EventType.STATE, {"state": "preflight", "previous": "pending"}, t)
    # A recovery SLA breached while the system heals: not a breach anyone is told of.
    healing = {"sla": "recovers", "state": "breached", "reason": "9 > 1", "final": False}
    sink.emit(EventType.VERDICT, healing, t + 0.5)
    if breach:
        final = {"sla": breach, "state": "breached", "reason": "5 > 1", "final": True}
        sink.emit(EventType.VERDICT, final, t + 1)
    sink.emit(EventType.STATE, {"state": state, "previous": "recovering"}, t + 2)
    sink.emit(
        EventType.RESULT,
        {"state": state, "reason": reason, "verdicts": {}, "rto": 1.5, "rto_objective": 30},
        t + 2,
    )


def test_a_game_day_starts_its_first_drill_once_however_often_it_is_looked_at(
    alice: User, queue: str
) -> None:
    run = start_gameday(store_two_waits(alice), alice, source="web")
    for _ in range(3):
        advance(run.id)
    [drill] = DrillRun.objects.filter(gameday_run=run)
    assert (drill.gameday_position, drill.version.playbook.name) == (0, "wait-a")
    assert drill.state == "pending" and drill.enqueued_at is not None
    assert AuditEntry.objects.filter(action="gameday_start", object_id=str(run.id)).count() == 1


def test_drills_run_in_order_and_the_day_passes_with_a_combined_result(
    alice: User, queue: str
) -> None:
    run = start_gameday(store_two_waits(alice), alice)
    advance(run.id)
    end_drill(DrillRun.objects.get(gameday_run=run, gameday_position=0), "passed", "all held")
    advance(run.id)
    second = DrillRun.objects.get(gameday_run=run, gameday_position=1)
    assert second.version.number == 1
    end_drill(second, "passed", "all held")
    advance(run.id)
    run.refresh_from_db()
    assert run.state == "passed" and run.finished_at is not None
    assert run.reason == "every drill passed (2 of 2)"
    assert [(d["position"], d["state"], d["rto"]) for d in run.result["drills"]] == [
        (1, "passed", 1.5),
        (2, "passed", 1.5),
    ]


def test_a_failed_first_drill_stops_the_day_and_says_why(alice: User, queue: str) -> None:
    run = start_gameday(store_two_waits(alice), alice)
    advance(run.id)
    first = DrillRun.objects.get(gameday_run=run, gameday_position=0)
    end_drill(first, "failed", "checkout stays up failed", breach="checkout stays up")
    advance(run.id)
    run.refresh_from_db()
    assert run.state == "failed"
    assert run.reason == (
        "drill 1 (wait-a) failed: checkout stays up failed; so drill 2 (wait-b) did not start"
    )
    assert DrillRun.objects.filter(gameday_run=run).count() == 1
    assert run.result["first_breach"]["sla"] == "checkout stays up"
    assert run.result["drills"][1]["state"] is None


def test_each_state_change_is_one_message_per_channel_that_wants_it(
    alice: User, queue: str
) -> None:
    run = start_gameday(store_two_waits(alice), alice)
    advance(run.id)
    first = DrillRun.objects.get(gameday_run=run, gameday_position=0)
    end_drill(first, "failed", "checkout stays up failed", breach="checkout stays up")
    advance(run.id)
    advance(run.id)
    told = sorted(OutboxMessage.objects.values_list("channel__name", "event"))
    assert told == sorted(
        [
            ("ops", "gameday_started"),
            ("ops", "drill_started"),
            ("ops", "drill_breached"),
            ("ops", "drill_finished"),
            ("ops", "gameday_finished"),
            ("pager", "drill_breached"),
            ("pager", "drill_finished"),
            ("pager", "gameday_finished"),
            ("digest", "gameday_finished"),
        ]
    )
    digest = OutboxMessage.objects.get(channel__name="digest")
    assert digest.text.splitlines() == [
        f"Game day two-waits (run {run.id}) failed: drill 1 (wait-a) failed: checkout stays "
        "up failed; so drill 2 (wait-b) did not start",
        "- drill 1 (wait-a): failed, RTO 1.5 s (objective 30 s)",
        "- drill 2 (wait-b): did not start",
    ]


def test_stopping_a_game_day_aborts_its_drill_and_starts_no_other(alice: User, queue: str) -> None:
    run = start_gameday(store_two_waits(alice), alice)
    advance(run.id)
    assert stop_gameday(run, "stopped from its page")
    assert not stop_gameday(run, "again")
    advance(run.id)
    first = DrillRun.objects.get(gameday_run=run, gameday_position=0)
    assert first.abort_requested_at is not None
    end_drill(first, "aborted", "its game day was stopped")
    advance(run.id)
    run.refresh_from_db()
    assert run.state == "aborted"
    assert run.reason == (
        "the game day was stopped: stopped from its page; so drill 2 (wait-b) did not start"
    )
    assert GameDayRun.objects.count() == 1 and DrillRun.objects.count() == 1


def test_halt_all_stops_a_game_day_between_and_during_drills(
    alice: User,
    queue: str,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    from drills.web.halt import halt_all
    from tests.web.halt_state import forget_redis

    forget_redis(settings.REDIS_URL)
    try:
        run = start_gameday(store_two_waits(alice), alice)
        advance(run.id)
        first = DrillRun.objects.get(gameday_run=run, gameday_position=0)
        halt_all("game over", alice)
        advance(run.id)
        first.refresh_from_db()
        assert first.abort_requested_at is not None and "game over" in first.abort_reason
        end_drill(first, "aborted", "halt all: game over")
        advance(run.id)
        run.refresh_from_db()
        assert run.state == "aborted" and "game over" in run.reason
        assert DrillRun.objects.filter(gameday_run=run).count() == 1
    finally:
        forget_redis(settings.REDIS_URL)


def test_a_game_days_drills_silence_by_the_label_its_document_names(
    alice: User, queue: str
) -> None:
    from drills.web.silencing import silence_label_for
    from tests.web.gamedays import TWO_WAITS

    text = TWO_WAITS + "silence: {host_label: hostname}\n"
    run = start_gameday(store_two_waits(alice, text=text), alice)
    advance(run.id)
    drill = DrillRun.objects.get(gameday_run=run)
    assert silence_label_for(drill) == "hostname"
    alone = DrillRun.objects.create(version=drill.version)
    assert silence_label_for(alone) == "instance"


def test_a_second_start_while_one_runs_is_refused_under_forbid(alice: User, queue: str) -> None:
    from drills.web.gameday_runs import GameDayRefused

    gameday = store_two_waits(alice)
    first = start_gameday(gameday, alice)
    with pytest.raises(GameDayRefused) as refused:
        start_gameday(gameday, alice)
    assert str(refused.value) == (
        f"run {first.id} of game day two-waits still runs, and its concurrency is forbid: "
        "stop it or wait for it to end"
    )
    assert GameDayRun.objects.count() == 1
