"""Durations ("150ms", "2s", "10m", "1h") and percentages ("5%") as written in playbooks."""

from __future__ import annotations

import re

DURATION_HELP = "expected a duration like 150ms, 2s or 10m"

# The longest duration a playbook may hold, wherever it appears (faults, waits, probe intervals
# and timeouts, SLA windows, objectives, limits.max_duration itself). A day: agents refuse a
# fault lease longer than that (MAX_LEASE_SECONDS in injector/protocol.py, "a bug in the
# caller, not a drill"), and a drill is a supervised exercise, so anything longer is a typo
# ("10h" for "10m", a stray digit), not a plan. It also keeps every duration a finite float:
# "99999999999999999999999s" or 400 digits (which float() turns into inf) stop here.
MAX_SECONDS = 24 * 3600.0

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)\s*")
_PERCENT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*")


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises ValueError with DURATION_HELP otherwise."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{DURATION_HELP}, got {text!r}")
    number, unit = float(match.group(1)), match.group(2)
    # Dividing keeps "150ms" exactly 0.15 (multiplying by 0.001 does not).
    return number / 1000 if unit == "ms" else number * _UNITS[unit]


def format_duration(seconds: float) -> str:
    """A playbook spelling of ``seconds`` ("250ms", "1.5s", "10m") that parses back to it."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{_number(seconds / size)}{unit}"
    if seconds >= 1 or seconds == 0:
        return f"{_number(seconds)}s"
    return f"{_number(round(seconds * 1000, 9))}ms"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def parse_percent(text: str) -> float:
    """The number in ``"5%"`` (5.0); raises ValueError otherwise."""
    match = _PERCENT.fullmatch(text)
    if match is None:
        raise ValueError(f"expected a percentage like 5%, got {text!r}")
    return float(match.group(1))
