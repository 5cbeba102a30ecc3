"""The Markdown report: short, for pasting into a postmortem or a ticket. The same figures as
every other format (they all read the report model); the charts and the full record stay in
the HTML, PDF and JSON."""

from __future__ import annotations

from drills.report.model import GameDayReport, RunReport
from drills.report.sentences import utc


def _cell(text: object) -> str:
    # A pipe or a newline inside a cell would break the table.
    return str("" if text is None else text).replace("|", "\\|").replace("\n", " ")


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def run_lines(r: RunReport, level: int = 1) -> list[str]:
    h = "#" * level
    o = r.objectives
    lines = [
        f"{h} {r.playbook}: run {r.run_id} {r.verdict}",
        "",
        f"**Verdict:** {r.verdict}. {r.reason}".rstrip(),
        "",
        f"- **RTO:** {o.rto_sentence}",
        f"- **RPO:** {o.rpo_sentence}",
        f"- **Playbook:** {r.playbook} v{r.version}, sha256 `{r.content_hash}`",
        f"- **Started by:** {r.started_by.name if r.started_by else 'nobody recorded'}"
        f" ({r.source}), {utc(r.started_at)} to {utc(r.finished_at)}",
    ]
    if r.approved_by:
        lines.append(f"- **Approved by:** {r.approved_by.name} at {utc(r.approved_by.at)}")
    if r.aborted:
        lines.append(f"- **Aborted:** {r.aborted}")
    lines.append(f"- **Probe samples:** {r.probe_samples} ({r.probe_errors} failed)")
    if r.slas:
        lines += ["", "| SLA | verdict | first breach | worst value |", "| --- | --- | --- | --- |"]
        for s in r.slas:
            first = (
                "never"
                if s.first_breach_offset is None
                else f"+{s.first_breach_offset:.1f} s, value {_num(s.first_breach_value)}"
            )
            lines.append(f"| {_cell(s.name)} | {s.verdict} | {first} | {_num(s.worst_value)} |")
    if r.faults:
        lines += ["", "Faults:"]
        for f in r.faults:
            end = "" if f.end_offset is None else f" to +{f.end_offset:.1f} s"
            lines.append(
                f"- {f.kind} on {f.host} with {f.mechanism or 'its default'}, "
                f"+{f.start_offset:.1f} s{end}, {f.ended}"
            )
    if r.proofs:
        lines += ["", "Proof of effect:"]
        lines += [
            f"- {p.kind} on {', '.join(p.hosts)} ({p.fault_id}): {p.sentence}" for p in r.proofs
        ]
    moved = [m for m in r.kernel_summary if m.moved]
    if moved:
        lines += ["", "Kernel metrics that changed during faults:"]
        lines += [f"- {m.sentence}" for m in moved]
    if r.gameday and r.gameday.observation:
        ob = r.gameday.observation
        lines += ["", f"Observation ({ob.author or 'someone'}): {ob.verdict}. {ob.notes}".rstrip()]
    return lines


def render_run_markdown(r: RunReport) -> str:
    return "\n".join(run_lines(r)) + "\n"


def render_gameday_markdown(g: GameDayReport) -> str:
    lines = [
        f"# Game day {g.gameday}: run {g.run_id} {g.state}",
        "",
        f"**Verdict:** {g.state}. {g.reason}".rstrip(),
        "",
        "| # | playbook | run | verdict | RTO | RPO |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for d in g.drills:
        rto = "" if d.rto_seconds is None else f"{d.rto_seconds:.2f} s"
        lines.append(
            f"| {d.position} | {_cell(d.playbook)} v{d.version} | {d.run_id or ''} | {d.state} "
            f"| {rto} | {_cell(d.rpo_sentence)} |"
        )
    observed = [d for d in g.drills if d.observation]
    if observed:
        lines += ["", "Observations:"]
        for d in observed:
            ob = d.observation
            assert ob is not None
            lines.append(f"- drill {d.position} ({d.playbook}): {ob.verdict}. {ob.notes}".rstrip())
    if g.action_items:
        lines += ["", "Action items:"]
        lines += [f"- [{'x' if a.done else ' '}] {a.text} ({a.owner})" for a in g.action_items]
    for d in g.drills:
        if d.report is not None:
            lines += ["", *run_lines(d.report, level=2)]
    return "\n".join(lines) + "\n"
