"""What is done at a fire time: run it, or why not.

Apart from ``fire_times`` (which decides it) because the game-day model stores it: loading the
models must not import the schedule's pydantic models and, through them, the playbook's.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    RUN = "run"
    SKIPPED = "skipped"  # the calendar, Forbid or a pause said no
    MISSED = "missed"  # nobody was there in time, and it is not caught up
