"""The game day document (drillhall/v1, kind GameDay): a goal, the people and their
positions, an ordered list of drills (each pinned to a playbook version, or the latest at
start), what a failed drill does to the rest, a schedule, where to tell what happened, and
which alerts to silence while faults are on.

Channels are named, not described: their addresses and signing secrets are the server's
settings, never written in a document anyone can read.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from drills.gameday.schedule import Schedule
from drills.playbook.model.values import Line, Seconds, Slug, Text, strict_config

MAX_DRILLS = 50
MAX_PARTICIPANTS = 100
MAX_PAUSE_SECONDS = 3600.0
# Django's own rule for user names (letters, digits and @.+-_), at most 150 characters.
_USER_NAME = re.compile(r"^[\w.@+-]{1,150}$", re.ASCII)


def _user_name(value: str) -> str:
    if not _USER_NAME.match(value):
        raise PydanticCustomError(
            "user_name",
            "expected a user name (letters, digits and @.+-_), found '{text}'",
            {"text": value[:40]},
        )
    return value


UserName = Annotated[str, AfterValidator(_user_name)]


def _version(value: Any) -> Any:
    if value == "latest" or (type(value) is int and value >= 1):
        return value
    raise PydanticCustomError(
        "version",
        "expected a version number (1, 2, ...) or 'latest', found {found}",
        {"found": repr(value)[:40], "hint": "'latest' takes the newest version when it starts"},
    )


Version = Annotated[
    int | Literal["latest"],
    BeforeValidator(_version),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1}, {"const": "latest"}]}),
]


class Position(StrEnum):
    OWNER = "owner"
    COORDINATOR = "coordinator"
    OBSERVER = "observer"
    REPORTER = "reporter"


class Participant(BaseModel):
    model_config = strict_config()

    user: UserName
    position: Position


class DrillEntry(BaseModel):
    """One drill of the day: a playbook by name, at a version or the latest when it starts."""

    model_config = strict_config()

    playbook: Slug
    version: Version = "latest"


class OnFailure(StrEnum):
    STOP = "stop"  # a failed drill ends the game day; the rest never start
    CONTINUE = "continue"


class Policy(BaseModel):
    model_config = strict_config()

    on_failure: OnFailure = OnFailure.STOP
    pause: Annotated[Seconds, Field(le=MAX_PAUSE_SECONDS)] = 0.0


class Sends(StrEnum):
    ALL = "all"
    FAILURES = "failures"
    DIGEST = "digest"  # one message per game day, when it ends


class Notification(BaseModel):
    model_config = strict_config()

    channel: Slug
    sends: Sends = Sends.ALL


class Silence(BaseModel):
    """Silence, in the server's Alertmanager, the alerts about the hosts a fault is on."""

    model_config = strict_config()

    host_label: Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,62}$")] = "instance"


class GameDayMetadata(BaseModel):
    model_config = strict_config()

    name: Slug
    goal: Line
    description: Text = ""
    owner: Line = ""


class GameDay(BaseModel):
    model_config = strict_config()

    api_version: Literal["drillhall/v1"] = Field(alias="apiVersion")
    kind: Literal["GameDay"]
    metadata: GameDayMetadata
    participants: Annotated[list[Participant], Field(max_length=MAX_PARTICIPANTS)] = []
    drills: Annotated[list[DrillEntry], Field(min_length=1, max_length=MAX_DRILLS)]
    policy: Policy = Policy()
    schedule: Schedule | None = None
    notify: list[Notification] = []
    silence: Silence | None = None

    @field_validator("participants")
    @classmethod
    def _one_position_each(cls, participants: list[Participant]) -> list[Participant]:
        users = [p.user for p in participants]
        if len(set(users)) != len(users):
            raise PydanticCustomError(
                "participants", "each person takes one position: a user is listed twice"
            )
        return participants

    @field_validator("notify")
    @classmethod
    def _each_channel_once(cls, notify: list[Notification]) -> list[Notification]:
        channels = [n.channel for n in notify]
        if len(set(channels)) != len(channels):
            raise PydanticCustomError("notify", "each channel at most once")
        return notify
