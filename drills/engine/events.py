"""Events leave the engine through a sink; the engine never knows who listens.

Listeners (the database + websocket sink, the CLI printer, the report builder) all read
the same stream of events.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol

from injector.protocol import KernelSampleMessage
from verifier.windows import Sample


class EventType(StrEnum):
    STATE = "state"
    # A pending run that admission holds back (drills/engine/admission.py): how many runs
    # start before it, and why it waits.
    QUEUED = "queued"
    STEP_STARTED = "step_started"
    STEP_FINISHED = "step_finished"
    FAULT_APPLIED = "fault_applied"
    FAULT_REVERTED = "fault_reverted"
    FAULT_UNCONFIRMED = "fault_unconfirmed"
    LEASE_WARNING = "lease_warning"
    # A fault ended before its step did, for the tool's own reasons: the run ends in error.
    FAULT_ENDED_EARLY = "fault_ended_early"
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
    # A run that faults protected hosts: approval asked for, given, declined, cancelled or
    # expired (drills/web/approvals.py); "decision" says which.
    APPROVAL = "approval"
    # Alerts silenced for a fault window (drills/engine/silences.py): created, expired, or
    # failed, with the silence's id and a sentence.
    SILENCE = "silence"


class EventSink(Protocol):
    def emit(self, type: EventType, data: dict[str, Any], t: float) -> None: ...

    def emit_many(self, events: list[tuple[EventType, dict[str, Any]]], t: float) -> None:
        """Several events at once, in order (a tick's samples): one write for all of them."""
        ...


# How the parts of a run emit: the runner stamps each event with its clock's time.
Emit = Callable[[EventType, dict[str, Any]], None]
EmitMany = Callable[[list[tuple[EventType, dict[str, Any]]]], None]


class MemorySink:
    """Keeps events in a list, for the engine's tests."""

    def __init__(self) -> None:
        self.events: list[tuple[EventType, dict[str, Any], float]] = []

    def emit(self, type: EventType, data: dict[str, Any], t: float) -> None:
        self.events.append((type, data, t))

    def emit_many(self, events: list[tuple[EventType, dict[str, Any]]], t: float) -> None:
        for type, data in events:
            self.emit(type, data, t)


# -- payloads: the live page, the CLI and the reports read these fields -------------------


def sample_event(sample: Sample) -> dict[str, Any]:
    data: dict[str, Any] = {
        "probe": sample.probe,
        "ok": sample.ok,
        "latency_ms": sample.latency_ms,
        "status": sample.status,
        "error": sample.error,
    }
    # Only where they carry something: most samples are plain HTTP or TCP ones.
    if sample.value is not None:
        data["value"] = sample.value
    if sample.seq is not None:
        data["seq"] = sample.seq
    return data


def kernel_sample_event(message: KernelSampleMessage) -> dict[str, Any]:
    data: dict[str, Any] = {
        "probe": f"kernel.{message.metric}",
        "ok": True,
        "latency_ms": None,
        "status": None,
        "error": None,
        "value": message.value,
        "host": message.host,
        "source": message.source,
        "at": message.t,
    }
    if message.count:
        data["count"] = message.count
    if message.buckets:
        data["buckets"] = message.buckets
    if message.labels:
        data["labels"] = message.labels
    return data
