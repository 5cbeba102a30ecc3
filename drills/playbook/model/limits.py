"""Limits a playbook sets itself: how long, how many hosts, which faults (see limit_checks)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from drills.playbook.model.faults import KnownFault
from drills.playbook.model.values import PositiveSeconds, strict_config


class Limits(BaseModel):
    model_config = strict_config()

    max_duration: PositiveSeconds = 600.0
    max_targets: Annotated[int, Field(ge=1)] | None = None
    allowed_faults: list[KnownFault] | None = None
