"""Targets: playbook names bound to one inventory host, or chosen from a label group.

A selector picks hosts deterministically (sorted by name, the first ``count`` or
``ceil(percent)`` of the group), so a plan can be reviewed before it runs.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from drills.playbook.model.values import (
    HostName,
    LabelWord,
    Percent,
    ServiceName,
    strict_config,
)

TARGET_TAGS = ("host-target", "selector-target")


class HostTarget(BaseModel):
    """``{host: db1, service: redis}``"""

    model_config = strict_config()

    host: HostName
    service: ServiceName | None = None


class Selector(BaseModel):
    model_config = strict_config()

    labels: dict[LabelWord, LabelWord] = Field(min_length=1)


class SelectorTarget(BaseModel):
    """``{selector: {labels: {role: db}}, count: 2}`` or ``percent: 40%``."""

    model_config = strict_config()

    selector: Selector
    count: Annotated[int, Field(ge=1)] | None = None
    percent: Percent | None = None
    service: ServiceName | None = None

    @model_validator(mode="after")
    def _count_or_percent(self) -> SelectorTarget:
        if (self.count is None) == (self.percent is None):
            raise PydanticCustomError(
                "count_or_percent",
                "a selector target needs exactly one of 'count' or 'percent'",
                {"hint": "for example count: 1 or percent: 40%"},
            )
        return self


def _target_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "selector" in value:
            return "selector-target"
        if "host" in value:
            return "host-target"
        return None
    if isinstance(value, SelectorTarget):
        return "selector-target"
    if isinstance(value, HostTarget):
        return "host-target"
    return None


Target = Annotated[
    Annotated[HostTarget, Tag("host-target")] | Annotated[SelectorTarget, Tag("selector-target")],
    Discriminator(
        _target_kind,
        custom_error_type="target_kind",
        custom_error_message="expected a target with 'host' or 'selector'",
    ),
]
