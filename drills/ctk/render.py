"""The converted playbook as YAML text, with what did not map listed in comments on top."""

from __future__ import annotations

import yaml

from drills.ctk.convert import SLA_ERROR_RATE, SLA_WINDOW, Conversion

ROLLBACKS_HEADER = "drillhall reverts every fault itself; rollbacks not imported:"
SLA_COMMENT = [
    f"Each steady-state tolerance became two SLAs, error_rate < {SLA_ERROR_RATE} over "
    f"{SLA_WINDOW}: during 'before'",
    "(abort: Chaos Toolkit does not run the method when the steady state fails) and during",
    "'recovery' (record: Chaos Toolkit checks the steady state again after the method).",
    "A tolerance of 200 counts every 2xx/3xx as success (Chaos Toolkit follows redirects);",
    "other statuses are listed in expect_status. Probes sample every 500ms instead of once.",
]


def report_lines(conversion: Conversion) -> list[str]:
    """What the author must know: not mapped, placeholders, notes, rollbacks."""
    lines: list[str] = []
    sections = (
        ("Not mapped", conversion.unmapped),
        ("To fill in (CHANGE-ME)", conversion.placeholders),
        ("Mapped with remarks", conversion.notes),
    )
    for title, findings in sections:
        if findings:
            lines.append(f"{title} ({len(findings)}):")
            lines += [f"  - {_one_line(str(f))}" for f in findings]
    if conversion.rollbacks:
        lines.append(ROLLBACKS_HEADER)
        lines += [f"  - {_one_line(r)}" for r in conversion.rollbacks]
    return lines


def render_playbook(conversion: Conversion, source: str) -> str:
    origin = _one_line(source)
    header = [f"Converted by `drillhall import-ctk` from the Chaos Toolkit experiment {origin}."]
    report = report_lines(conversion)
    header += ["Everything converted as it was." if not report else "Review before running:"]
    body = yaml.safe_dump(
        conversion.playbook, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    lines: list[str] = []
    for line in body.splitlines():
        if line == "slas:":
            lines += [f"# {text}" for text in SLA_COMMENT]
        lines.append(line)
    comments = [f"# {text}".rstrip() for text in [*header, *report]]
    return "\n".join([*comments, *lines]) + "\n"


def _one_line(text: str) -> str:
    # Names and commands come from the experiment: a newline must not end the comment.
    return " ".join(text.split())
