"""Recovery objectives: RTO as a duration, RPO as lost writes (a count) or a time span."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from drills.playbook.durations import format_duration
from drills.playbook.model.values import DURATION_PATTERN, Seconds, strict_config, to_seconds


def _rpo(value: Any) -> Any:
    # An int is a number of writes; a string is a duration. Floats would blur the two.
    if isinstance(value, bool) or isinstance(value, float):
        raise PydanticCustomError(
            "rpo", "rpo is a whole number of lost writes (0) or a duration like 5s", {}
        )
    if isinstance(value, int):
        if value < 0:
            raise PydanticCustomError("rpo", "rpo cannot be negative", {})
        return value
    seconds = to_seconds(value)
    return float(seconds) if isinstance(seconds, int | float) else seconds


def _dump_rpo(value: int | float) -> int | str:
    return format_duration(value) if isinstance(value, float) else value


Rpo = Annotated[
    int | float,
    BeforeValidator(_rpo),
    PlainSerializer(_dump_rpo),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": DURATION_PATTERN},
            ]
        }
    ),
]


class Objectives(BaseModel):
    model_config = strict_config()

    rto: Seconds | None = None
    rpo: Rpo | None = None

    @property
    def rpo_writes(self) -> int | None:
        return self.rpo if isinstance(self.rpo, int) else None

    @property
    def rpo_seconds(self) -> float | None:
        return self.rpo if isinstance(self.rpo, float) else None
