"""When a schedule fires, and what is done at each fire time.

Beat checks a game day's schedule from time to time; between two checks, any number of fire
times may have passed (beat or the workers were down). ``decide`` says, for each of them,
exactly one thing: run it, or why not (skipped by the calendar, by Forbid, while paused;
missed). At most one fire time of a check runs: catch-up runs the newest missed one once,
within the starting deadline. Every instant is timezone-aware; the clock is the caller's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from drills.gameday.fire_outcome import Outcome
from drills.gameday.schedule import Missed, Schedule

# croniter is imported where it is used: importing it runs `file` on the interpreter
# (platform.architecture), and every process that loads the models (an agent worker's Django
# set-up among them) would otherwise spawn that program when it starts.

# A fire time found this late is not "on time" any more: beat ticks every few seconds.
ON_TIME = dt.timedelta(seconds=60)
# However long beat was down, a check looks back at most this many fire times.
MAX_LOOKBACK = 1000


@dataclass(frozen=True)
class Decision:
    fire_time: dt.datetime
    outcome: Outcome
    reason: str  # a sentence, for the game day's page and its notifications

    def __str__(self) -> str:
        return f"{self.fire_time:%Y-%m-%d %H:%M %Z}: {self.outcome.value}, {self.reason}"


def fire_times(schedule: Schedule, after: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
    """Fire times in (after, until], as aware instants in the schedule's zone."""
    zone = schedule.zone()
    if schedule.once is not None:
        at = schedule.once.replace(tzinfo=zone)
        return [at] if after < at <= until else []
    assert schedule.cron is not None  # the model holds exactly one trigger
    from croniter import croniter

    found: list[dt.datetime] = []
    times = croniter(schedule.cron, after.astimezone(zone))
    while len(found) < MAX_LOOKBACK:
        at = times.get_next(dt.datetime)
        if at > until:
            break
        found.append(at)
    return found


def next_fire_times(schedule: Schedule, now: dt.datetime, count: int = 5) -> list[Decision]:
    """The preview: the next ``count`` fire times, each with what the calendar would do."""
    far = now + dt.timedelta(days=3660)
    preview: list[Decision] = []
    zone = schedule.zone()
    if schedule.once is not None:
        times = fire_times(schedule, now, far)
    else:
        assert schedule.cron is not None
        from croniter import croniter

        it = croniter(schedule.cron, now.astimezone(zone))
        times = [it.get_next(dt.datetime) for _ in range(count)]
    for at in times[:count]:
        reason = schedule.skip_reason(at)
        if reason is None:
            preview.append(Decision(at, Outcome.RUN, "runs"))
        else:
            preview.append(Decision(at, Outcome.SKIPPED, reason))
    return preview


def decide(
    schedule: Schedule,
    last_check: dt.datetime,
    now: dt.datetime,
    running: bool,
    on_time: dt.timedelta = ON_TIME,
) -> list[Decision]:
    """What to do about every fire time since ``last_check``: one decision each, at most one
    of them RUN. ``running``: a run of this game day has not ended yet. ``on_time``: how late
    a fire time may be found and still count as on time (a few of beat's ticks)."""
    times = fire_times(schedule, last_check, now)
    decisions: list[Decision] = []
    chosen: dt.datetime | None = None
    if not schedule.paused:
        # The newest fire time that may still start: on time, or caught up within the deadline.
        deadline = dt.timedelta(seconds=schedule.starting_deadline)
        for at in reversed(times):
            late = now - at
            if schedule.skip_reason(at) is None and (
                late <= on_time or (schedule.missed is Missed.CATCH_UP and late <= deadline)
            ):
                chosen = at
                break
    for at in times:
        decisions.append(_decision(schedule, at, now, chosen, running, on_time))
    return decisions


def _decision(
    schedule: Schedule,
    at: dt.datetime,
    now: dt.datetime,
    chosen: dt.datetime | None,
    running: bool,
    on_time: dt.timedelta,
) -> Decision:
    if schedule.paused:
        return Decision(at, Outcome.SKIPPED, "the schedule is paused")
    calendar = schedule.skip_reason(at)
    if calendar is not None:
        return Decision(at, Outcome.SKIPPED, calendar)
    late = now - at
    if at != chosen:
        if late <= on_time:  # an earlier on-time fire time of the same check
            return Decision(at, Outcome.SKIPPED, "a later fire time of the same check runs")
        if schedule.missed is Missed.SKIP:
            return Decision(at, Outcome.MISSED, f"nobody was there ({_ago(late)} late): skipped")
        if chosen is not None:
            return Decision(at, Outcome.MISSED, "missed; a later fire time is caught up instead")
        return Decision(
            at, Outcome.MISSED,
            f"missed by {_ago(late)}, past the starting deadline "
            f"({_ago(dt.timedelta(seconds=schedule.starting_deadline))})",
        )  # fmt: skip
    if running and schedule.concurrency.value == "forbid":
        return Decision(at, Outcome.SKIPPED, "the previous run of this game day still runs")
    if late > on_time:
        return Decision(at, Outcome.RUN, f"caught up, {_ago(late)} late")
    return Decision(at, Outcome.RUN, "on time")


def _ago(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
