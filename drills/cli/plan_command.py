"""`drillhall plan FILE [--json]`: the dry run. Which fault lands where, when, for how long.

Exit codes: 0 a plan, 2 an invalid playbook (issues on stderr), 4 a refused plan (problems on
stderr).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path

from drills.cli.main import say_err
from drills.engine.plan import Plan, PlanError, resolve_plan
from drills.playbook.durations import format_duration
from drills.playbook.errors import PlaybookError
from drills.playbook.parser import parse_file

EXIT_OK, EXIT_INVALID, EXIT_REFUSED = 0, 2, 4
COLUMNS = ("path", "name", "fault", "host", "mechanism", "start", "duration")


def cmd_plan(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    path = Path(args.file)
    try:
        playbook = parse_file(path)
    except PlaybookError as exc:
        for issue in exc.issues:
            say_err(str(issue))
        return EXIT_INVALID
    except OSError as exc:
        say_err(f"{path}: cannot read: {exc.strerror}")
        return EXIT_INVALID

    from drills.cli.main import setup_django

    setup_django()
    from drills.web.hosts import inventory_snapshot

    try:
        plan = resolve_plan(playbook, inventory_snapshot())
    except PlanError as exc:
        say_err(f"{path}: the plan was refused:")
        for problem in exc.problems:
            say_err(f"  - {problem}")
        return EXIT_REFUSED
    if getattr(args, "json", False):
        say(json.dumps(plan.to_dict(), indent=2))
    else:
        say(render_plan(plan, playbook.metadata.name))
    return EXIT_OK


def render_plan(plan: Plan, title: str) -> str:
    """The plan as a table, then the blast radius, the expected length and the warnings."""
    rows = [COLUMNS, *(astuple(row) for row in plan.rows())]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [f"plan for {title}", ""]
    for number, row in enumerate(rows):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    radius = plan.blast_radius
    lines += ["", "blast radius:"]
    lines.append(f"  hosts:    {', '.join(radius.hosts) or 'none'}")
    lines.append(f"  services: {', '.join(radius.services) or 'none'}")
    for group, share in radius.groups.items():
        lines.append(f"  group {group}: {share}")
    if plan.collectors:
        # Playbook collectors plus the ones that prove each fault took effect.
        lines += ["kernel collectors:"]
        lines += [f"  {c.host}: {', '.join(c.names)}" for c in plan.collectors]
    lines.append(f"expected length: {format_duration(plan.expected_seconds)}")
    if plan.warnings:
        lines.append("warnings:")
        lines.extend(f"  - {warning}" for warning in plan.warnings)
    return "\n".join(lines)
