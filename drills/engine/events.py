"""Events leave the engine through a sink; the engine never knows who listens.

Listeners (the database + websocket sink, the CLI printer, the report builder) all read
the same stream of events.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol


class EventType(StrEnum):
    STATE = "state"
    STEP_STARTED = "step_started"
    STEP_FINISHED = "step_finished"
    FAULT_APPLIED = "fault_applied"
    FAULT_REVERTED = "fault_reverted"
    FAULT_UNCONFIRMED = "fault_unconfirmed"
    LEASE_WARNING = "lease_warning"
    PAUSED = "paused"
    RESUMED = "resumed"
    SAMPLE = "sample"
    VERDICT = "verdict"
    ABORT = "abort"
    RPO = "rpo"
    COLLECTORS = "collectors"  # which kernel collectors run where, eBPF or /proc, and why
    NO_EFFECT = "no_effect"  # a fault was applied but the kernel saw nothing of it
    RESULT = "result"
    ERROR = "error"


class EventSink(Protocol):
    def emit(self, type: EventType, data: dict[str, Any], t: float) -> None: ...


class MemorySink:
    """Keeps events in a list; used by unit tests and the report of a finished run."""

    def __init__(self) -> None:
        self.events: list[tuple[EventType, dict[str, Any], float]] = []

    def emit(self, type: EventType, data: dict[str, Any], t: float) -> None:
        self.events.append((type, data, t))
