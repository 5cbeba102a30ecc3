"""Chaos Toolkit experiments converted into drillhall/v1 playbooks (framework-free)."""

from __future__ import annotations

from drills.ctk.convert import Conversion, Finding, convert_experiment
from drills.ctk.experiment import CtkError, load_experiment, parse_experiment
from drills.ctk.render import render_playbook, report_lines

__all__ = [
    "Conversion",
    "CtkError",
    "Finding",
    "convert_experiment",
    "load_experiment",
    "parse_experiment",
    "render_playbook",
    "report_lines",
]
