"""The phases of a drill run that an SLA can be judged in."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    BEFORE = "before"  # baseline, before the first fault
    FAULT = "fault"  # while a fault is applied
    RECOVERY = "recovery"  # after the faults are reverted
    ALWAYS = "always"  # the whole run
