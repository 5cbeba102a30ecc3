"""The report of one run, as plain typed data: what every format renders, and nothing else.

Built by drills/report/build.py from the stored run only (its events, its stored plan, its
playbook version), so the report of an old run is the same whenever it is made. Every
renderer (HTML, PDF, JSON, JUnit, Markdown) reads this one model: the numbers cannot differ
between formats. The JSON format is this model as it stands, and schema/report.schema.json is
its published JSON Schema (tests/report/test_schema.py keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REPORT_FORMAT = "drillhall.report/v1"


@dataclass(frozen=True)
class Person:
    """Who did something to the run, and when (UTC, ISO 8601)."""

    name: str
    at: str | None = None


@dataclass(frozen=True)
class Objectives:
    """RTO and RPO, measured and wanted. ``*_met`` is None where there is nothing to judge."""

    rto_seconds: float | None
    rto_objective_seconds: float | None
    rto_met: bool | None
    rto_sentence: str
    rpo_acknowledged: int | None
    rpo_lost: int | None
    rpo_span_seconds: float | None
    rpo_objective: str | None  # as the playbook says it: "0" writes, or "5s"
    rpo_met: bool | None
    rpo_sentence: str


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    offset_seconds: float  # from the run's first event
    at: str  # UTC clock time, HH:MM:SS.mmm
    type: str
    sentence: str


@dataclass(frozen=True)
class FaultWindow:
    fault_id: str
    kind: str
    host: str
    mechanism: str
    step: str
    start_offset: float
    end_offset: float | None  # None: never confirmed reverted
    ended: str  # reverted | unconfirmed | still on at the end of the record


@dataclass(frozen=True)
class ProofOfEffect:
    """Whether the kernel saw a fault take effect (verifier/proof.py's rule for its kind)."""

    fault_id: str
    kind: str
    hosts: list[str]
    status: str  # effect seen | no effect | cannot tell | not applicable
    passed: bool | None  # None: nothing to judge (not applicable, cannot tell)
    evidence: float  # how much of the proof was seen while the fault was on
    sentence: str


@dataclass(frozen=True)
class SlaRow:
    name: str
    assertion: str
    during: str
    on_breach: str
    verdict: str
    first_breach_offset: float | None
    first_breach_value: float | None
    first_breach_reason: str
    worst_value: float | None  # of the values recorded with the SLA's verdicts
    sentence: str


@dataclass(frozen=True)
class ChartPoint:
    offset: float
    value: float | None
    ok: bool = True


@dataclass(frozen=True)
class ProbeChart:
    """One probe's samples over the chart window, with the fault windows to shade."""

    probe: str
    unit: str  # "ms", or the value's name
    samples: int
    errors: int
    points: list[ChartPoint]


@dataclass(frozen=True)
class KernelSeries:
    host: str
    metric: str
    source: str
    during_faults: float
    outside_faults: float
    rate_during: float  # per second of fault window
    rate_outside: float  # per second outside them
    moved: bool
    points: list[ChartPoint]


@dataclass(frozen=True)
class KernelMetric:
    """One metric across hosts, for the summary: what changed while faults were on."""

    metric: str
    hosts: list[str]
    during_faults: float
    outside_faults: float
    rate_during: float
    rate_outside: float
    moved: bool
    sentence: str


@dataclass(frozen=True)
class Collector:
    name: str
    source: str  # ebpf | proc | "" (not running)
    reason: str


@dataclass(frozen=True)
class Agent:
    """A host the run used: its faults' mechanisms and its kernel collectors, as recorded."""

    host: str
    roles: list[str]  # "faults", "kernel evidence"
    mechanisms: list[str]
    collectors: list[Collector]
    capabilities: str  # a sentence: what the host could do for this run


@dataclass(frozen=True)
class PlanRow:
    path: str
    step: str
    what: str
    host: str
    mechanism: str
    start: str
    duration: str


@dataclass(frozen=True)
class Observation:
    verdict: str
    detected: bool
    detected_at: str | None
    mitigated: bool
    mitigated_at: str | None
    notes: str
    author: str


@dataclass(frozen=True)
class GameDayLink:
    gameday: str
    run: int
    position: int | None
    observation: Observation | None


@dataclass(frozen=True)
class ChartWindow:
    """Seconds of record shown before the first fault and after the last revert; None: all."""

    before_seconds: float | None = None
    after_seconds: float | None = None


@dataclass(frozen=True)
class RunReport:
    format: str
    run_id: int
    run_key: str
    playbook: str
    version: int
    content_hash: str
    state: str
    verdict: str
    reason: str
    source: str
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    duration_seconds: float | None
    started_by: Person | None
    approved_by: Person | None
    aborted: str  # the abort's reason, "" when not aborted
    objectives: Objectives
    slas: list[SlaRow]
    faults: list[FaultWindow]
    proofs: list[ProofOfEffect]
    timeline: list[TimelineEntry]
    chart_window: ChartWindow
    chart_start: float  # offsets the charts span
    chart_end: float
    probe_charts: list[ProbeChart]
    kernel_summary: list[KernelMetric]
    kernel_series: list[KernelSeries]
    agents: list[Agent]
    plan: list[PlanRow]
    blast_radius: list[str]
    gameday: GameDayLink | None
    playbook_text: str
    probe_samples: int
    probe_errors: int
    # The stored events themselves, samples included: the complete record.
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ActionItem:
    text: str
    owner: str
    done: bool


@dataclass(frozen=True)
class GameDayDrill:
    position: int
    playbook: str
    version: int
    run_id: int | None
    state: str
    reason: str
    rto_seconds: float | None
    rto_objective_seconds: float | None
    rpo_sentence: str
    observation: Observation | None
    report: RunReport | None


@dataclass(frozen=True)
class GameDayReport:
    format: str
    gameday: str
    run_id: int
    version: int
    state: str
    reason: str
    source: str
    started_by: Person | None
    created_at: str | None
    finished_at: str | None
    first_breach: str
    drills: list[GameDayDrill]
    action_items: list[ActionItem]
