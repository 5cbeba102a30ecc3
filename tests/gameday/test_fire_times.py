"""Fire times and what is done at each, on an injected clock: no test here waits."""

from __future__ import annotations

import datetime as dt

from drills.gameday.fire_times import Outcome, decide, fire_times, next_fire_times
from drills.gameday.schedule import Schedule

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def schedule(**fields: object) -> Schedule:
    return Schedule.model_validate({"timezone": "UTC", **fields})


def test_a_cron_in_tokyo_fires_at_the_right_utc_instant() -> None:
    tokyo = schedule(timezone="Asia/Tokyo", cron="0 9 * * mon-fri")
    # Wednesday 2 December 2026, 09:00 in Tokyo (UTC+9, no daylight saving) is 00:00 UTC.
    assert fire_times(tokyo, at("2026-12-01T23:59"), at("2026-12-02T00:01")) == [
        at("2026-12-02T00:00")
    ]
    # Saturday in Tokyo, though still Friday in UTC: no fire time.
    assert fire_times(tokyo, at("2026-12-04T23:59"), at("2026-12-05T00:01")) == []
    [decision] = decide(tokyo, at("2026-12-01T23:59:55"), at("2026-12-02T00:00:03"), False)
    assert (decision.outcome, decision.reason) == (Outcome.RUN, "on time")


def test_a_berlin_cron_follows_daylight_saving() -> None:
    berlin = schedule(timezone="Europe/Berlin", cron="0 10 * * *")
    summer = fire_times(berlin, at("2026-07-01T00:00"), at("2026-07-01T23:00"))
    winter = fire_times(berlin, at("2026-12-01T00:00"), at("2026-12-01T23:00"))
    assert [t.astimezone(UTC) for t in summer + winter] == [
        at("2026-07-01T08:00"),
        at("2026-12-01T09:00"),
    ]


def test_a_missed_fire_time_is_recorded_as_missed_under_skip() -> None:
    hourly = schedule(cron="0 * * * *", missed="skip")
    [decision] = decide(hourly, at("2026-12-01T09:55"), at("2026-12-01T10:30"), False)
    assert decision.outcome is Outcome.MISSED
    assert decision.reason == "nobody was there (30 min late): skipped"


def test_catch_up_runs_the_newest_missed_fire_time_once_and_never_twice() -> None:
    hourly = schedule(cron="0 * * * *", missed="catch_up", starting_deadline="45m")
    # Beat was down from 07:55 to 10:30: three fire times passed.
    decisions = decide(hourly, at("2026-12-01T07:55"), at("2026-12-01T10:30"), False)
    assert [(d.fire_time.hour, d.outcome) for d in decisions] == [
        (8, Outcome.MISSED),
        (9, Outcome.MISSED),
        (10, Outcome.RUN),
    ]
    assert decisions[0].reason == "missed; a later fire time is caught up instead"
    assert decisions[2].reason == "caught up, 30 min late"
    # The next check starts where this one ended: the 10:00 fire time is not seen again.
    assert decide(hourly, at("2026-12-01T10:30"), at("2026-12-01T10:45"), False) == []


def test_catch_up_past_the_starting_deadline_is_missed() -> None:
    hourly = schedule(cron="0 * * * *", missed="catch_up", starting_deadline="10m")
    [decision] = decide(hourly, at("2026-12-01T09:55"), at("2026-12-01T10:30"), False)
    assert decision.outcome is Outcome.MISSED
    assert decision.reason == "missed by 30 min, past the starting deadline (10 min)"


def test_forbid_skips_a_fire_time_while_the_previous_run_still_runs() -> None:
    every_minute = schedule(cron="* * * * *", concurrency="forbid")
    [decision] = decide(every_minute, at("2026-12-01T10:00:30"), at("2026-12-01T10:01:02"), True)
    assert (decision.outcome, decision.reason) == (
        Outcome.SKIPPED,
        "the previous run of this game day still runs",
    )
    allow = schedule(cron="* * * * *", concurrency="allow")
    [decision] = decide(allow, at("2026-12-01T10:00:30"), at("2026-12-01T10:01:02"), True)
    assert decision.outcome is Outcome.RUN


def test_blackout_dates_and_hours_outside_the_window_are_skipped_with_the_reason() -> None:
    daily = schedule(
        timezone="Europe/Berlin",
        cron="0 8,10 * * *",
        window={"hours": "09:00-17:00", "weekdays": ["mon", "tue", "wed", "thu", "fri"]},
        blackout=["2026-12-24"],
    )
    early, ok = decide(daily, at("2026-12-01T06:59"), at("2026-12-01T09:00:05"), False)
    assert early.outcome is Outcome.SKIPPED
    assert early.reason == (
        "Tue 08:00 (Europe/Berlin) is outside the window 09:00-17:00 on mon, tue, wed, thu, fri"
    )
    assert (ok.outcome, ok.reason) == (Outcome.RUN, "on time")
    [_, christmas] = decide(daily, at("2026-12-24T06:59"), at("2026-12-24T09:00:05"), False)
    assert (christmas.outcome, christmas.reason) == (
        Outcome.SKIPPED,
        "2026-12-24 is a blackout date",
    )


def test_a_paused_schedule_skips_and_says_so() -> None:
    paused = schedule(cron="0 * * * *", paused=True)
    [decision] = decide(paused, at("2026-12-01T09:59"), at("2026-12-01T10:00:01"), False)
    assert (decision.outcome, decision.reason) == (Outcome.SKIPPED, "the schedule is paused")


def test_once_fires_once_in_its_own_zone() -> None:
    once = schedule(timezone="America/New_York", once="2026-12-10T10:00")
    assert fire_times(once, at("2026-12-01T00:00"), at("2027-01-01T00:00")) == [
        at("2026-12-10T15:00")
    ]
    assert fire_times(once, at("2026-12-10T15:00"), at("2027-01-01T00:00")) == []


def test_the_preview_shows_the_next_five_fire_times_with_the_calendars_word() -> None:
    weekly = schedule(
        timezone="Europe/Berlin",
        cron="0 10 * * tue,sat",
        window={"weekdays": ["mon", "tue", "wed", "thu", "fri"]},
    )
    preview = next_fire_times(weekly, at("2026-12-01T00:00"))
    assert [(d.fire_time.astimezone(UTC), d.outcome) for d in preview] == [
        (at("2026-12-01T09:00"), Outcome.RUN),
        (at("2026-12-05T09:00"), Outcome.SKIPPED),
        (at("2026-12-08T09:00"), Outcome.RUN),
        (at("2026-12-12T09:00"), Outcome.SKIPPED),
        (at("2026-12-15T09:00"), Outcome.RUN),
    ]
    assert str(preview[0]) == "2026-12-01 10:00 CET: run, runs"
