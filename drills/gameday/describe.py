"""A game day in sentences, for its pages and the editor: the schedule, the failure policy,
each fire time of the preview in the schedule's own zone and in UTC, and what a run does next.

Pure text from the document model; the page never shows a model's repr or a dict.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from drills.gameday.document import OnFailure, Policy
from drills.gameday.fire_times import Decision, Outcome
from drills.gameday.progress import Action as StepAction
from drills.gameday.progress import DrillStatus, Step
from drills.gameday.schedule import Concurrency, Missed, Schedule, Weekday, Window

UTC = dt.UTC
_ALL_DAY = Window().hours


def duration(seconds: float) -> str:
    """10 s, 15 min, 1 h 30 min: what a person writes, not 900.0."""
    if seconds < 120:
        return f"{seconds:g} s"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    parts.append(f"{secs} s" if secs else "")
    return " ".join(p for p in parts if p)


def _clock(at: dt.datetime) -> str:
    # Seconds only where a time has them (a `once` written to the second).
    return f"{at:%H:%M:%S}" if at.second else f"{at:%H:%M}"


def local_time(at: dt.datetime, schedule: Schedule | None) -> str:
    """An instant in the schedule's zone, with that zone named: Tue 2026-12-08 10:00 CET."""
    zone = schedule.zone() if schedule is not None else UTC
    local = at.astimezone(zone)
    return f"{local:%a %Y-%m-%d} {_clock(local)} {local.tzname() or ''}".rstrip()


def utc_time(at: dt.datetime) -> str:
    at = at.astimezone(UTC)
    return f"{at:%Y-%m-%d} {_clock(at)} UTC"


@dataclass(frozen=True)
class FireTimeLine:
    """One fire time of the preview, as the page shows it."""

    local: str
    utc: str
    runs: bool
    said: str  # "runs", or "skipped: <why>"

    @property
    def outcome(self) -> str:
        return "runs" if self.runs else "skipped"


def fire_time_line(decision: Decision, schedule: Schedule) -> FireTimeLine:
    runs = decision.outcome is Outcome.RUN
    said = "runs" if runs else f"skipped: {decision.reason}"
    return FireTimeLine(
        local_time(decision.fire_time, schedule), utc_time(decision.fire_time), runs, said
    )


def _days(days: list[Weekday]) -> str:
    names = {
        Weekday.MON: "Monday",
        Weekday.TUE: "Tuesday",
        Weekday.WED: "Wednesday",
        Weekday.THU: "Thursday",
        Weekday.FRI: "Friday",
        Weekday.SAT: "Saturday",
        Weekday.SUN: "Sunday",
    }
    ordered = [names[d] for d in Weekday if d in days]
    if len(ordered) == 1:
        return ordered[0]
    return ", ".join(ordered[:-1]) + " and " + ordered[-1]


def schedule_sentences(schedule: Schedule) -> list[str]:
    """What the schedule does, one sentence per rule it has."""
    said: list[str] = []
    if schedule.once is not None:
        once = schedule.once
        said.append(f"Runs once, at {once:%Y-%m-%d} {_clock(once)} in {schedule.timezone}.")
    else:
        said.append(f"Runs at the times of cron “{schedule.cron}”, read in {schedule.timezone}.")
    window = schedule.window
    every_day = len(set(window.weekdays)) == len(Weekday)
    if window.hours != _ALL_DAY or not every_day:
        start, end = window.hours.split("-")
        days = "any day" if every_day else _days(window.weekdays)
        said.append(
            f"Only between {start} and {end} on {days}; a fire time outside that is skipped."
        )
    if schedule.blackout:
        dates = ", ".join(f"{d:%Y-%m-%d}" for d in sorted(schedule.blackout))
        plural = "s" if len(schedule.blackout) != 1 else ""
        said.append(f"Never on the blackout date{plural} {dates}.")
    deadline = duration(schedule.starting_deadline)
    if schedule.missed is Missed.CATCH_UP:
        said.append(
            "A fire time nobody was there for is caught up once, when found within "
            f"{deadline} of it; older ones are recorded as missed."
        )
    else:
        said.append("A fire time nobody was there for is recorded as missed, not run.")
    if schedule.concurrency is Concurrency.FORBID:
        said.append("While a run of this game day still runs, a fire time is skipped.")
    else:
        said.append("A fire time starts a run even while the previous one still runs.")
    plural = "s" if schedule.history_limit != 1 else ""
    said.append(f"Keeps the last {schedule.history_limit} run{plural}.")
    if schedule.paused:
        said.append("The document pauses it: no fire time runs until that line is removed.")
    return said


def policy_sentences(policy: Policy) -> list[str]:
    if policy.on_failure is OnFailure.STOP:
        said = ["A drill that does not pass ends the game day; the drills after it do not start."]
    else:
        said = ["A drill that does not pass does not stop the game day: the next one starts."]
    if policy.pause > 0:
        said.append(f"Each drill starts {duration(policy.pause)} after the previous one ended.")
    else:
        said.append("Each drill starts as soon as the previous one ended.")
    return said


def next_sentence(step: Step, drills: list[DrillStatus]) -> str:
    """What a game-day run that has not ended does next, as its live page says it."""
    titles = {d.position: d.title for d in drills}
    title = titles.get(step.position, "") if step.position is not None else ""
    if step.action is StepAction.WATCH:
        return f"{_cap(title)} runs."
    if step.action is StepAction.WAIT and step.until is not None:
        until = step.until.astimezone(UTC)
        return f"{_cap(title)} starts at {until:%H:%M:%S} UTC, after the pause."
    if step.action is StepAction.START:
        return f"{_cap(title)} is about to start."
    if step.action is StepAction.STOP_DRILL:
        return f"Stopping: {title} is being aborted ({step.reason})."
    return f"Ending: {step.reason}."


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]
