"""Beat's clock on an injected clock: every fire time decided once, recorded with what was
done and why; Forbid, windows, blackouts, time zones, missed and caught-up fire times."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User

from drills.web.clock_task import ensure_clock_task
from drills.web.gameday_clock import tick
from drills.web.models import FireRecord, GameDay, GameDayRun, OutboxMessage
from tests.web.gamedays import TWO_WAITS, store_two_waits

pytestmark = pytest.mark.django_db
UTC = dt.UTC


@pytest.fixture
def queue(private_queue: str, settings) -> str:  # type: ignore[no-untyped-def]
    settings.DRILLHALL_GAMEDAY_ON_TIME_SECONDS = 60
    return private_queue


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password="x" * 12)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def scheduled(alice: User, schedule: str, saved: str) -> GameDay:
    """The two-waits game day with ``schedule`` (YAML lines), its version saved at ``saved``."""
    text = TWO_WAITS.replace(
        "policy: {on_failure: stop}\n", f"policy: {{on_failure: stop}}\n{schedule}"
    )
    gameday = store_two_waits(alice, text=text)
    gameday.versions.update(created_at=at(saved))
    return GameDay.objects.get(id=gameday.id)


def records(gameday: GameDay) -> list[tuple[str, str, str]]:
    return [
        (r.fire_time.astimezone(UTC).strftime("%m-%d %H:%M"), r.outcome, r.reason)
        for r in FireRecord.objects.filter(gameday=gameday).order_by("fire_time")
    ]


def test_a_tokyo_cron_runs_at_midnight_utc_once_however_often_beat_looks(
    alice: User, queue: str
) -> None:
    gameday = scheduled(
        alice, "schedule: {timezone: Asia/Tokyo, cron: '0 9 * * *'}\n", "2026-12-01T20:00"
    )
    tick(at("2026-12-01T23:59:50"))
    assert records(gameday) == []
    for now in ("2026-12-02T00:00:04", "2026-12-02T00:00:05", "2026-12-02T00:00:09"):
        tick(at(now))
    assert records(gameday) == [("12-02 00:00", "run", "on time")]
    [run] = GameDayRun.objects.filter(gameday=gameday)
    assert run.source == "schedule" and run.fire_time == at("2026-12-02T00:00")


def test_forbid_skips_a_fire_time_while_the_previous_run_runs(alice: User, queue: str) -> None:
    gameday = scheduled(
        alice, "schedule: {timezone: UTC, cron: '*/5 * * * *'}\n", "2026-12-02T09:58"
    )
    tick(at("2026-12-02T10:00:02"))
    tick(at("2026-12-02T10:05:01"))  # the first run's drill never ended (no worker here)
    assert records(gameday) == [
        ("12-02 10:00", "run", "on time"),
        ("12-02 10:05", "skipped", "the previous run of this game day still runs"),
    ]
    assert GameDayRun.objects.filter(gameday=gameday).count() == 1
    assert OutboxMessage.objects.filter(event="schedule_skipped", channel__name="ops").count() == 1


def test_fire_times_outside_the_window_or_in_a_blackout_are_skipped_with_the_reason(
    alice: User, queue: str
) -> None:
    gameday = scheduled(
        alice,
        "schedule:\n  timezone: Europe/Berlin\n  cron: '0 8,10 * * *'\n"
        "  window: {hours: '09:00-17:00'}\n  blackout: [2026-12-03]\n",
        "2026-12-02T06:00",
    )
    for now in (
        "2026-12-02T07:00:01",  # 08:00 Berlin: before the window
        "2026-12-02T09:00:01",  # 10:00 Berlin: runs
        "2026-12-03T09:00:01",  # 10:00 Berlin, a blackout date
    ):
        tick(at(now))
    assert records(gameday) == [
        ("12-02 07:00", "skipped", "Wed 08:00 (Europe/Berlin) is outside the window "
         "09:00-17:00 on mon, tue, wed, thu, fri, sat, sun"),
        ("12-02 09:00", "run", "on time"),
        ("12-03 07:00", "skipped", "2026-12-03 is a blackout date"),
        ("12-03 09:00", "skipped", "2026-12-03 is a blackout date"),
    ]  # fmt: skip


def test_a_fire_time_passed_while_beat_was_down_is_recorded_missed_under_skip(
    alice: User, queue: str
) -> None:
    gameday = scheduled(
        alice,
        "schedule: {timezone: UTC, once: '2026-12-02T10:00', missed: skip}\n",
        "2026-12-02T09:00",
    )
    tick(at("2026-12-02T10:30"))  # the first look after beat came back
    tick(at("2026-12-02T10:31"))
    assert records(gameday) == [
        ("12-02 10:00", "missed", "nobody was there (30 min late): skipped")
    ]
    assert not GameDayRun.objects.exists()
    assert OutboxMessage.objects.filter(event="schedule_missed").count() == 2  # ops and pager


def test_catch_up_runs_a_missed_fire_time_once_within_the_deadline(alice: User, queue: str) -> None:
    gameday = scheduled(
        alice,
        "schedule: {timezone: UTC, cron: '0 * * * *', missed: catch_up, "
        "starting_deadline: 2h, concurrency: allow}\n",
        "2026-12-02T07:30",
    )
    tick(at("2026-12-02T10:20"))
    tick(at("2026-12-02T10:21"))
    assert records(gameday) == [
        ("12-02 08:00", "missed", "missed; a later fire time is caught up instead"),
        ("12-02 09:00", "missed", "missed; a later fire time is caught up instead"),
        ("12-02 10:00", "run", "caught up, 20 min late"),
    ]
    assert GameDayRun.objects.filter(gameday=gameday).count() == 1


def test_a_paused_game_day_records_its_fire_times_as_skipped(alice: User, queue: str) -> None:
    gameday = scheduled(
        alice, "schedule: {timezone: UTC, cron: '0 10 * * *'}\n", "2026-12-02T09:00"
    )
    GameDay.objects.filter(id=gameday.id).update(paused=True)
    tick(at("2026-12-02T10:00:03"))
    assert records(gameday) == [("12-02 10:00", "skipped", "the schedule is paused")]


def test_the_clock_is_one_periodic_task_in_beats_database(settings) -> None:  # type: ignore[no-untyped-def]
    from django_celery_beat.models import PeriodicTask

    settings.DRILLHALL_GAMEDAY_TICK_SECONDS = 3
    ensure_clock_task()
    ensure_clock_task()
    [task] = PeriodicTask.objects.filter(task="drillhall.gameday_tick")
    assert (task.interval.every, task.interval.period, task.expire_seconds) == (3, "seconds", 3)
    assert task.enabled and task.queue == settings.DRILLHALL_ORCHESTRATOR_QUEUE


def test_the_history_limit_keeps_the_newest_ended_runs_and_never_a_running_one(
    alice: User, queue: str
) -> None:
    from drills.web.gameday_clock import trim_history

    gameday = scheduled(
        alice,
        "schedule: {timezone: UTC, cron: '0 10 * * *', history_limit: 2}\n",
        "2026-12-02T09:00",
    )
    version = gameday.latest_version()
    running = GameDayRun.objects.create(gameday=gameday, version=version, state="running")
    ended = [
        GameDayRun.objects.create(gameday=gameday, version=version, state=state)
        for state in ("passed", "failed", "passed")
    ]
    assert trim_history(gameday) == 1
    kept = set(GameDayRun.objects.filter(gameday=gameday).values_list("id", flat=True))
    assert kept == {running.id, ended[1].id, ended[2].id}
