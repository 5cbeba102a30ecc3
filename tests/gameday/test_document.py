"""The game day document: read by the strict loader, every problem at its line and column."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from drills.gameday.document import OnFailure, Position
from drills.gameday.load import parse_gameday, parse_gameday_file
from drills.gameday.schedule import Concurrency, Missed
from drills.playbook.errors import PlaybookError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "gamedays"
UTC = dt.UTC


def issues_of(text: str) -> list[str]:
    with pytest.raises(PlaybookError) as refused:
        parse_gameday(text, "g.yaml")
    return [str(issue) for issue in refused.value.issues]


def test_the_example_game_day_reads_as_written() -> None:
    day = parse_gameday_file(ROOT / "examples" / "gameday.yaml")
    assert day.metadata.name == "lab-tuesday"
    assert [(d.playbook, d.version) for d in day.drills] == [
        ("partition-demo", "latest"),
        ("redis-failover", "latest"),
    ]
    assert [(p.user, p.position) for p in day.participants] == [("admin", Position.OWNER)]
    assert day.policy.on_failure is OnFailure.STOP and day.policy.pause == 10.0
    schedule = day.schedule
    assert schedule is not None and schedule.cron == "0 10 * * tue" and schedule.once is None
    assert (schedule.missed, schedule.concurrency) == (Missed.CATCH_UP, Concurrency.FORBID)
    assert schedule.starting_deadline == 900.0
    assert schedule.blackout == [dt.date(2026, 12, 24), dt.date(2026, 12, 31)]


def test_every_mistake_of_a_schedule_is_said_at_its_line_and_column() -> None:
    with pytest.raises(PlaybookError) as refused:
        parse_gameday_file(FIXTURES / "bad-schedule.yaml")
    said = [str(issue).split(": ", 1)[1] for issue in refused.value.issues]
    where = [(issue.line, issue.column) for issue in refused.value.issues]
    assert said == [
        "drills[0].version: expected a version number (1, 2, ...) or 'latest', found 0 "
        "(hint: 'latest' takes the newest version when it starts)",
        "schedule.timezone: unknown time zone 'Europe/Berln': expected an IANA name such as "
        "Europe/Berlin or UTC (hint: did you mean 'Europe/Berlin'?)",
        "schedule.once: expected a time in the schedule's own time zone, without an offset, "
        "found '2026-12-10T10:00+01:00' (hint: the schedule's timezone says which clock it is)",
        "schedule.window.hours: expected a span of hours such as 09:00-17:00 (start before "
        "end), found '17:00-09:00'",
        "schedule.window.weekdays[1]: expected 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or "
        "'sun', found 'funday'",
        "schedule.blackout[0]: expected a date such as 2026-12-24, found '2026-02-30'",
        "schedule.missed: expected 'skip' or 'catch_up', found 'later'",
        "schedule.history_limit: must be at least 1, found a number (0)",
    ]
    assert where == [(5, 41), (7, 13), (8, 9), (9, 19), (9, 50), (10, 14), (11, 11), (12, 18)]


def test_a_schedule_says_once_or_cron_and_not_both() -> None:
    base = "apiVersion: drillhall/v1\nkind: GameDay\nmetadata: {name: g, goal: x}\n"
    base += "drills: [{playbook: p}]\nschedule:\n  timezone: UTC\n"
    for trigger in ("", "  once: 2026-12-10T10:00\n  cron: '0 10 * * *'\n"):
        [issue] = issues_of(base + trigger)
        assert issue.startswith("g.yaml:6:3: schedule: a schedule fires either once"), issue


def test_unknown_keys_and_a_user_listed_twice_are_refused() -> None:
    text = (
        "apiVersion: drillhall/v1\nkind: GameDay\nmetadata: {name: g, goal: x}\n"
        "participants:\n  - {user: ada, position: owner}\n  - {user: ada, position: observer}\n"
        "drills: [{playbook: p, verison: 2}]\n"
    )
    assert issues_of(text) == [
        "g.yaml:5:3: participants: each person takes one position: a user is listed twice",
        "g.yaml:7:24: unknown key 'verison' (hint: did you mean 'version'?)",
    ]


def test_the_calendar_skips_blackout_dates_and_times_outside_the_window() -> None:
    schedule = parse_gameday_file(ROOT / "examples" / "gameday.yaml").schedule
    assert schedule is not None
    # Tuesday 1 December 2026, 10:00 in Berlin is 09:00 UTC.
    assert schedule.skip_reason(dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)) is None
    assert schedule.skip_reason(dt.datetime(2026, 12, 24, 9, 0, tzinfo=UTC)) == (
        "2026-12-24 is a blackout date"
    )
    assert schedule.skip_reason(dt.datetime(2026, 12, 1, 17, 30, tzinfo=UTC)) == (
        "Tue 18:30 (Europe/Berlin) is outside the window 09:00-17:00 on mon, tue, wed, thu, fri"
    )
    assert "outside the window" in (
        schedule.skip_reason(dt.datetime(2026, 12, 5, 9, 0, tzinfo=UTC)) or ""
    )


def test_a_cron_expression_has_five_valid_fields() -> None:
    base = "apiVersion: drillhall/v1\nkind: GameDay\nmetadata: {name: g, goal: x}\n"
    base += "drills: [{playbook: p}]\nschedule:\n  timezone: UTC\n"
    for cron in ("61 * * * *", "0 0 10 * * tue", "@reboot", "0 10 * * someday"):
        [issue] = issues_of(base + f"  cron: '{cron}'\n")
        assert issue.startswith(
            "g.yaml:7:9: schedule.cron: expected a cron expression of five fields"
        ), issue
    assert parse_gameday(base + "  cron: '0  10 * *   tue'\n").schedule.cron == "0 10 * * tue"  # type: ignore[union-attr]
