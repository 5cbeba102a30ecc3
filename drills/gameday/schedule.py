"""When a game day runs: once or by cron, always in an explicit IANA time zone, inside a
calendar window (allowed hours and weekdays, blackout dates), and what to do about a fire time
that was missed or that comes while the previous game day still runs.

Dates and times are written as ISO 8601 text and read as local times of ``timezone``: a time
that carries its own offset is refused, so one game day never mixes two clocks.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from drills.playbook.model.values import Seconds, did_you_mean, strict_config

MAX_HISTORY = 1000
MAX_BLACKOUTS = 366


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Monday 0 ... Sunday 6, as ``datetime.weekday()``."""
        return list(Weekday).index(self)


class Missed(StrEnum):
    """A fire time nobody was there for (beat or the workers were down)."""

    SKIP = "skip"  # recorded as missed, not run
    CATCH_UP = "catch_up"  # run once, if still within the starting deadline


class Concurrency(StrEnum):
    """A fire time while the previous game-day run still runs."""

    FORBID = "forbid"  # recorded as skipped
    ALLOW = "allow"


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _zone(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # the str validator reports the type
    if value not in _zones():
        raise PydanticCustomError(
            "time_zone",
            "unknown time zone '{text}': expected an IANA name such as Europe/Berlin or UTC",
            {"text": value[:64], "hint": did_you_mean(value, sorted(_zones()), cutoff=0.7)},
        )
    return value


TimeZone = Annotated[str, BeforeValidator(_zone)]


def _local(kind: str, parse: Any) -> Any:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise PydanticCustomError(
                f"{kind}_text", "expected a {kind} written as text, such as {example}",
                {"kind": kind, "example": _EXAMPLES[kind]},
            )  # fmt: skip
        try:
            parsed = parse(value)
        except ValueError:
            raise PydanticCustomError(
                kind, "expected a {kind} such as {example}, found '{text}'",
                {"kind": kind, "example": _EXAMPLES[kind], "text": value[:40]},
            ) from None  # fmt: skip
        if isinstance(parsed, dt.datetime) and parsed.tzinfo is not None:
            raise PydanticCustomError(
                "offset",
                "expected a time in the schedule's own time zone, without an offset, "
                "found '{text}'",
                {"text": value[:40], "hint": "the schedule's timezone says which clock it is"},
            )
        return parsed

    return check


_EXAMPLES = {"date": "2026-12-24", "datetime": "2026-12-10T10:00", "hours": "09:00-17:00"}

LocalDateTime = Annotated[
    dt.datetime, BeforeValidator(_local("datetime", dt.datetime.fromisoformat))
]
LocalDate = Annotated[dt.date, BeforeValidator(_local("date", dt.date.fromisoformat))]


def _hours(value: str) -> str:
    start, sep, end = value.partition("-")
    first: dt.time | None = None
    last: dt.time | None = None
    try:
        first, last = dt.time.fromisoformat(start.strip()), dt.time.fromisoformat(end.strip())
    except ValueError:
        pass
    if not sep or first is None or last is None or first >= last:
        raise PydanticCustomError(
            "hours",
            "expected a span of hours such as 09:00-17:00 (start before end), found '{text}'",
            {"text": value[:40]},
        )
    return f"{first:%H:%M}-{last:%H:%M}"


Hours = Annotated[str, AfterValidator(_hours)]


def _cron(value: str) -> str:
    # Five fields, as cron writes them: croniter also takes a sixth (seconds) and a seventh
    # (years), which a game day never needs and a reader would misread.
    text = " ".join(value.split())
    from croniter import croniter  # lazily: see drills/gameday/fire_times.py

    if len(text.split(" ")) != 5 or not croniter.is_valid(text):
        raise PydanticCustomError(
            "cron",
            "expected a cron expression of five fields (minute hour day month weekday), such as "
            "'0 10 * * tue', found '{text}'",
            {"text": value[:60]},
        )
    return text


Cron = Annotated[str, AfterValidator(_cron)]


class Window(BaseModel):
    """Fire times outside these hours and weekdays are skipped, and recorded as such."""

    model_config = strict_config()

    hours: Hours = "00:00-23:59"
    weekdays: Annotated[list[Weekday], Field(min_length=1, max_length=7)] = list(Weekday)

    @model_validator(mode="after")
    def _once_each(self) -> Window:
        if len(set(self.weekdays)) != len(self.weekdays):
            raise PydanticCustomError("weekdays", "each weekday at most once")
        return self

    def allows(self, local: dt.datetime) -> bool:
        """Whether a local time of the schedule's zone is inside the window."""
        start, end = (dt.time.fromisoformat(t) for t in self.hours.split("-"))
        weekday = local.weekday() in {day.number for day in self.weekdays}
        return weekday and start <= local.time().replace(second=0, microsecond=0) <= end


class Schedule(BaseModel):
    model_config = strict_config()

    timezone: TimeZone
    once: LocalDateTime | None = None
    cron: Cron | None = None
    window: Window = Window()
    blackout: Annotated[list[LocalDate], Field(max_length=MAX_BLACKOUTS)] = []
    missed: Missed = Missed.SKIP
    starting_deadline: Seconds = 600.0
    concurrency: Concurrency = Concurrency.FORBID
    history_limit: Annotated[int, Field(ge=1, le=MAX_HISTORY)] = 20
    paused: bool = False

    @model_validator(mode="after")
    def _one_trigger(self) -> Schedule:
        if (self.once is None) == (self.cron is None):
            raise PydanticCustomError(
                "trigger",
                "a schedule fires either once (once: 2026-12-10T10:00) or by cron "
                '(cron: "0 10 * * tue"), and says which',
            )
        return self

    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def skip_reason(self, fire: dt.datetime) -> str | None:
        """Why a fire time (any aware instant) is skipped by the calendar, or None."""
        local = fire.astimezone(self.zone())
        if local.date() in set(self.blackout):
            return f"{local:%Y-%m-%d} is a blackout date"
        if not self.window.allows(local):
            days = ", ".join(day.value for day in self.window.weekdays)
            return (
                f"{local:%a %H:%M} ({self.timezone}) is outside the window "
                f"{self.window.hours} on {days}"
            )
        return None
