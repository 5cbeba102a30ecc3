"""What the pages show of a playbook version: name, description, steps, probes, SLAs.

The parser is the authority; when it rejects a version (or is unavailable) the pages still
render, with the name and description read leniently and the parser's message shown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import yaml

from drills.playbook.redaction import redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepRow:
    number: int
    name: str
    kind: str  # wait | fault | parallel | pause | repeat
    detail: str


@dataclass(frozen=True)
class SlaRow:
    name: str
    assertion: str
    during: str
    on_breach: str


@dataclass(frozen=True)
class Outline:
    name: str
    description: str
    steps: list[StepRow] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    slas: list[SlaRow] = field(default_factory=list)
    error: str | None = None


def outline(content: str, filename: str) -> Outline:
    # What the pages show of a version saved before secrets were named holds no password.
    content = redact(content)
    try:
        from drills.playbook.parser import parse_playbook

        parsed = parse_playbook(content, filename)
    except Exception as exc:  # any failure still leaves a page that renders
        log.debug("playbook %s not parsed", filename, exc_info=True)
        name, description = _lenient_metadata(content)
        error = redact(str(exc)) or type(exc).__name__
        return Outline(name=name, description=description, error=error)
    metadata = getattr(parsed, "metadata", None)
    return Outline(
        name=str(getattr(metadata, "name", "") or ""),
        description=str(getattr(metadata, "description", "") or ""),
        steps=[_step_row(i, step) for i, step in enumerate(getattr(parsed, "steps", []), 1)],
        probes=[str(p.name) for p in getattr(parsed, "probes", [])],
        slas=[_sla_row(s) for s in getattr(parsed, "slas", [])],
    )


def _lenient_metadata(content: str) -> tuple[str, str]:
    try:
        doc = yaml.safe_load(content)
    except yaml.YAMLError:
        return "", ""
    metadata = doc.get("metadata") if isinstance(doc, dict) else None
    if not isinstance(metadata, dict):
        return "", ""
    return str(metadata.get("name") or ""), str(metadata.get("description") or "")


def _text(value: Any) -> str:
    # Enums print their value, not their class-qualified name.
    return str(getattr(value, "value", value))


def _seconds(value: Any) -> str:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, int | float):
        return f"{value:g}s"
    return _text(value)


def _describe(step: Any) -> tuple[str, str]:
    """(kind, one-line detail) of a parsed step."""
    if getattr(step, "fault", None) is not None:
        parts = [f"{_text(step.fault)} on {_text(getattr(step, 'target', '?'))}"]
        peers = getattr(step, "from_", None)
        if peers:
            parts.append("from " + ", ".join(_text(p) for p in peers))
        duration = getattr(step, "duration", None)
        if duration is not None:
            parts.append(f"for {_seconds(duration)}")
        return "fault", " ".join(parts)
    if getattr(step, "wait", None) is not None:
        return "wait", f"wait {_seconds(step.wait)}"
    children = getattr(step, "parallel", None)
    if children:
        return "parallel", " | ".join(_describe(c)[1] for c in children)
    pause = getattr(step, "pause", None)
    if pause is not None:
        message = getattr(pause, "message", "")
        return "pause", f"pause until an operator resumes{': ' + message if message else ''}"
    repeat = getattr(step, "repeat", None)
    if repeat is not None:
        inner = "; ".join(_describe(c)[1] for c in repeat.steps)
        return "repeat", f"{repeat.times} times: {inner}"
    return "step", type(step).__name__


def _step_row(number: int, step: Any) -> StepRow:
    kind, detail = _describe(step)
    return StepRow(
        number=number, name=str(getattr(step, "name", None) or ""), kind=kind, detail=detail
    )


def _sla_row(sla: Any) -> SlaRow:
    return SlaRow(
        name=str(sla.name),
        assertion=_text(getattr(sla, "assert_", "")),
        during=_text(getattr(sla, "during", "")),
        on_breach=_text(getattr(sla, "on_breach", "")),
    )
