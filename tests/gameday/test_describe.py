"""A game day in sentences: the schedule, the policy, fire times in two zones, what comes next."""

from __future__ import annotations

import datetime as dt

import pytest

from drills.gameday.describe import (
    duration,
    fire_time_line,
    next_sentence,
    policy_sentences,
    schedule_sentences,
)
from drills.gameday.document import Policy
from drills.gameday.fire_times import Decision, Outcome
from drills.gameday.progress import Action, DrillStatus, Step
from drills.gameday.schedule import Schedule

UTC = dt.UTC


def schedule(**fields: object) -> Schedule:
    return Schedule.model_validate({"timezone": "UTC", "cron": "0 10 * * *", **fields})


@pytest.mark.parametrize(
    "seconds,said",
    [(0.5, "0.5 s"), (10, "10 s"), (90, "90 s"), (900, "15 min"), (5400, "1 h 30 min"),
     (3600, "1 h"), (3725, "1 h 2 min 5 s")],
)  # fmt: skip
def test_durations_read_as_people_write_them(seconds: float, said: str) -> None:
    assert duration(seconds) == said


def test_a_plain_cron_says_its_zone_and_the_defaults() -> None:
    assert schedule_sentences(schedule(timezone="Asia/Tokyo", cron="0 9 * * mon-fri")) == [
        "Runs at the times of cron “0 9 * * mon-fri”, read in Asia/Tokyo.",
        "A fire time nobody was there for is recorded as missed, not run.",
        "While a run of this game day still runs, a fire time is skipped.",
        "Keeps the last 20 runs.",
    ]


def test_a_full_schedule_says_every_rule() -> None:
    said = schedule_sentences(
        Schedule.model_validate(
            {
                "timezone": "Europe/Berlin",
                "once": "2026-12-10T10:00",
                "window": {"hours": "09:00-17:00", "weekdays": ["tue", "mon"]},
                "blackout": ["2026-12-31", "2026-12-24"],
                "missed": "catch_up",
                "starting_deadline": "15m",
                "concurrency": "allow",
                "history_limit": 1,
                "paused": True,
            }
        )
    )
    assert said == [
        "Runs once, at 2026-12-10 10:00 in Europe/Berlin.",
        "Only between 09:00 and 17:00 on Monday and Tuesday; a fire time outside that is skipped.",
        "Never on the blackout dates 2026-12-24, 2026-12-31.",
        "A fire time nobody was there for is caught up once, when found within 15 min of it; "
        "older ones are recorded as missed.",
        "A fire time starts a run even while the previous one still runs.",
        "Keeps the last 1 run.",
        "The document pauses it: no fire time runs until that line is removed.",
    ]


def test_hours_alone_apply_on_any_day() -> None:
    said = schedule_sentences(schedule(window={"hours": "08:00-12:00"}))
    assert "Only between 08:00 and 12:00 on any day; a fire time outside that is skipped." in said


def test_the_policy_says_what_a_failed_drill_does_and_the_pause() -> None:
    assert policy_sentences(Policy()) == [
        "A drill that does not pass ends the game day; the drills after it do not start.",
        "Each drill starts as soon as the previous one ended.",
    ]
    assert policy_sentences(Policy.model_validate({"on_failure": "continue", "pause": "10s"})) == [
        "A drill that does not pass does not stop the game day: the next one starts.",
        "Each drill starts 10 s after the previous one ended.",
    ]


def test_a_fire_time_is_shown_in_the_schedules_zone_and_in_utc() -> None:
    berlin = schedule(timezone="Europe/Berlin")
    summer = dt.datetime(2026, 7, 7, 8, 0, tzinfo=UTC)
    line = fire_time_line(Decision(summer, Outcome.RUN, "runs"), berlin)
    assert (line.local, line.utc, line.runs, line.said, line.outcome) == (
        "Tue 2026-07-07 10:00 CEST",
        "2026-07-07 08:00 UTC",
        True,
        "runs",
        "runs",
    )
    skipped = fire_time_line(
        Decision(summer, Outcome.SKIPPED, "2026-07-07 is a blackout date"), berlin
    )
    assert (skipped.said, skipped.outcome) == ("skipped: 2026-07-07 is a blackout date", "skipped")


def test_what_a_run_does_next_is_one_sentence() -> None:
    drills = [DrillStatus(0, "wait-a", "passed"), DrillStatus(1, "wait-b")]
    until = dt.datetime(2026, 12, 2, 10, 4, 31, tzinfo=UTC)
    assert next_sentence(Step(Action.WATCH, position=0), drills) == "Drill 1 (wait-a) runs."
    assert (
        next_sentence(Step(Action.WAIT, position=1, until=until), drills)
        == "Drill 2 (wait-b) starts at 10:04:31 UTC, after the pause."
    )
    assert (
        next_sentence(Step(Action.START, position=1), drills)
        == "Drill 2 (wait-b) is about to start."
    )
    assert (
        next_sentence(Step(Action.STOP_DRILL, position=0, reason="stopped by opal"), drills)
        == "Stopping: drill 1 (wait-a) is being aborted (stopped by opal)."
    )
    assert next_sentence(Step(Action.FINISH, reason="every drill passed"), drills) == (
        "Ending: every drill passed."
    )


def test_a_time_written_to_the_second_keeps_its_seconds() -> None:
    once = Schedule.model_validate({"timezone": "Europe/Berlin", "once": "2026-12-02T08:34:12"})
    assert schedule_sentences(once)[0] == "Runs once, at 2026-12-02 08:34:12 in Europe/Berlin."
    at = dt.datetime(2026, 12, 2, 7, 34, 12, tzinfo=UTC)
    line = fire_time_line(Decision(at, Outcome.RUN, "runs"), once)
    assert (line.local, line.utc) == ("Wed 2026-12-02 08:34:12 CET", "2026-12-02 07:34:12 UTC")
