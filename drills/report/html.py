"""The HTML report: one self-contained page (inline CSS and SVG, no script, no external file),
rendered from the report model. The PDF is this page printed by WeasyPrint (pdf.py).
"""

from __future__ import annotations

from html import escape
from typing import Any

from drills.report.build import build_report
from drills.report.charts import line_chart, sparkline
from drills.report.model import GameDayReport, Observation, RunReport
from drills.report.sentences import utc

_CSS = """
@page{size:A4;margin:14mm 12mm;@bottom-right{content:counter(page) " / " counter(pages);
font-size:8pt;color:#667}}
body{font-family:"DejaVu Sans",system-ui,sans-serif;margin:2rem auto;color:#1d2430;
max-width:1060px;font-size:14px;line-height:1.4}
@media print{body{margin:0;font-size:9pt}}
h1{margin:0 0 .2rem;font-size:1.6rem} h2{margin-top:1.6rem;border-bottom:1px solid #dde;
font-size:1.2rem} h3{font-size:1rem;margin:1rem 0 .3rem}
.muted{color:#667} code{font-size:.85em;word-break:break-all}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:1rem;font-weight:600;color:#fff;
background:#667}
.passed,.effect-seen{background:#1a7f37}
.figure.met{border-color:#1a7f37} .figure.missed{border-color:#c62828}
.failed,.aborted,.error,.breached,.no-effect{background:#c62828}
.holding,.pending,.cannot-tell,.unsure{background:#b26a00}
table{border-collapse:collapse;width:100%;margin:.6rem 0}
td,th{border-bottom:1px solid #dde;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{font-weight:600;background:#f3f5f8}
.figures{display:flex;gap:1rem;flex-wrap:wrap;margin:.8rem 0}
.figure{border:1px solid #dde;border-radius:6px;padding:.5rem .8rem;min-width:12rem}
.figure strong{display:block;font-size:1.15rem}
@media print{.figure strong{font-size:11pt}}
svg.chart{width:100%;height:auto;display:block}
td svg.chart{width:220px}
.key{margin-right:1rem;font-size:.85em}
.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.3em;vertical-align:middle}
pre{white-space:pre-wrap;background:#f6f8fa;padding:.6rem;font-size:.8em}
.appendix{page-break-before:always}
.drill{page-break-before:always}
"""


def _badge(state: str) -> str:
    # States of two words ("not judged", "effect seen") make one class.
    return f'<span class="badge {escape(state.replace(" ", "-"))}">{escape(state)}</span>'


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _num(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def _when(iso: str | None) -> str:
    return escape(utc(iso))


def _figures(r: RunReport) -> str:
    o = r.objectives
    rto_class = "met" if o.rto_met else "missed" if o.rto_met is False else ""
    rpo_class = "met" if o.rpo_met else "missed" if o.rpo_met is False else ""
    return f"""<div class="figures">
<div class="figure">Verdict<strong>{_badge(r.verdict)}</strong></div>
<div class="figure {rto_class}">RTO<strong class="rto">{_e(o.rto_sentence)}</strong></div>
<div class="figure {rpo_class}">RPO<strong class="rpo">{_e(o.rpo_sentence)}</strong></div>
<div class="figure">Probe samples<strong>{r.probe_samples} ({r.probe_errors} failed)</strong></div>
</div>"""


def _who(r: RunReport) -> str:
    started = (
        f"Started by <strong>{_e(r.started_by.name)}</strong>"
        if r.started_by
        else "Started by nobody recorded"
    )
    started += f" ({_e(r.source)}), created {_when(r.created_at)}, started {_when(r.started_at)},"
    started += f" finished {_when(r.finished_at)}"
    if r.duration_seconds is not None:
        started += f" ({r.duration_seconds:.1f} s)"
    approved = (
        f" Approved by <strong>{_e(r.approved_by.name)}</strong> at {_when(r.approved_by.at)}."
        if r.approved_by
        else " No approval was needed or given."
    )
    aborted = f" <strong>Aborted:</strong> {_e(r.aborted)}." if r.aborted else ""
    return (
        f"<p>{started}.{approved}{aborted}</p>"
        f"<p>Playbook <strong>{_e(r.playbook)}</strong> version {r.version}, content sha256 "
        f"<code>{_e(r.content_hash)}</code>; run key <code>{_e(r.run_key)}</code>.</p>"
    )


def _slas(r: RunReport) -> str:
    if not r.slas:
        return "<p class='muted'>The playbook declares no SLA.</p>"
    rows = "".join(
        f"<tr><td>{_e(s.name)}</td><td><code>{_e(s.assertion)}</code></td><td>{_e(s.during)}"
        f"</td><td>{_badge(s.verdict)}</td><td>"
        + (
            f"+{s.first_breach_offset:.1f} s, value {_num(s.first_breach_value)}"
            if s.first_breach_offset is not None
            else "never"
        )
        + f"</td><td>{_num(s.worst_value)}</td></tr>"
        for s in r.slas
    )
    return (
        "<table class='slas'><tr><th>SLA</th><th>assertion</th><th>during</th><th>verdict</th>"
        f"<th>first breach</th><th>worst value</th></tr>{rows}</table>"
        "<p class='muted'>Worst value: of the values recorded with the SLA's verdicts.</p>"
    )


def _window_note(r: RunReport) -> str:
    w = r.chart_window
    if w.before_seconds is None and w.after_seconds is None:
        return f"the whole run, 0 to {r.chart_end:.0f} s"
    return (
        f"{_num(w.before_seconds) or 'all'} s before the first fault to "
        f"{_num(w.after_seconds) or 'all'} s after the last revert "
        f"({r.chart_start:.0f} to {r.chart_end:.0f} s)"
    )


def _charts(r: RunReport) -> str:
    if not r.probe_charts:
        return "<p class='muted'>No probe samples.</p>"
    out = [f"<p class='muted'>Shown: {_window_note(r)}; fault windows shaded, failed samples "
           "marked in red under the line.</p>"]  # fmt: skip
    for c in r.probe_charts:
        out.append(
            f"<h3>{_e(c.probe)} ({_e(c.unit)}): {c.samples} samples, {c.errors} failed</h3>"
            + line_chart(
                [(c.probe, c.points)],
                r.faults,
                r.chart_start,
                r.chart_end,
                unit=c.unit,
                label=f"probe {c.probe}",
            )
        )
    return "".join(out)


def _kernel(r: RunReport) -> str:
    out = []
    if r.proofs:
        rows = "".join(
            f"<tr><td><code>{_e(p.fault_id)}</code></td><td>{_e(p.kind)}</td>"
            f"<td>{_e(', '.join(p.hosts))}</td><td>{_badge(p.status)}</td>"
            f"<td>{_e(p.sentence)}</td></tr>"
            for p in r.proofs
        )
        out.append(
            "<h3>Proof of effect</h3><table class='proofs'><tr><th>fault</th><th>kind</th>"
            f"<th>hosts</th><th>verdict</th><th>evidence</th></tr>{rows}</table>"
        )
    if not r.kernel_summary:
        out.append("<p class='muted'>No kernel collectors ran.</p>")
        return "".join(out)
    moved = [m for m in r.kernel_summary if m.moved]
    still = [m for m in r.kernel_summary if not m.moved]
    if moved:
        out.append("<h3>What changed while faults were on</h3><ul class='moved'>")
        out.extend(f"<li>{_e(m.sentence)}</li>" for m in moved)
        out.append("</ul>")
    else:
        out.append("<p>No kernel metric changed while faults were on.</p>")
    if still:
        out.append(
            "<p class='muted'>Unchanged: "
            + _e(", ".join(m.metric.replace("_", " ") for m in still))
            + ". Every series is in the appendix.</p>"
        )
    return "".join(out)


def _kernel_appendix(r: RunReport) -> str:
    if not r.kernel_series:
        return "<p class='muted'>No kernel samples.</p>"
    rows = "".join(
        f"<tr><td>{_e(s.host)}</td><td>{_e(s.metric)}</td><td>{_e(s.source)}</td>"
        f"<td>{s.during_faults:g}</td><td>{s.outside_faults:g}</td>"
        f"<td>{'changed' if s.moved else ''}</td>"
        f"<td>{sparkline(s.points, r.faults, 0.0, max(r.chart_end, r.chart_start + 1))}</td></tr>"
        for s in r.kernel_series
    )
    return (
        "<table class='kernel'><tr><th>host</th><th>metric</th><th>source</th>"
        "<th>during faults</th><th>outside</th><th></th><th>over the run, faults shaded</th>"
        f"</tr>{rows}</table>"
    )


def _faults(r: RunReport) -> str:
    if not r.faults:
        return "<p class='muted'>No fault was applied.</p>"
    rows = "".join(
        f"<tr><td>{_e(f.step)}</td><td>{_e(f.kind)}</td><td>{_e(f.host)}</td>"
        f"<td>{_e(f.mechanism)}</td><td>+{f.start_offset:.1f} s</td><td>"
        + ("" if f.end_offset is None else f"+{f.end_offset:.1f} s")
        + f"</td><td>{_e(f.ended)}</td></tr>"
        for f in r.faults
    )
    return (
        "<table class='faults'><tr><th>step</th><th>fault</th><th>host</th><th>mechanism</th>"
        f"<th>applied</th><th>ended</th><th>how it ended</th></tr>{rows}</table>"
    )


def _timeline(r: RunReport) -> str:
    rows = "".join(
        f"<tr class='ev-{_e(t.type)}'><td>+{t.offset_seconds:.2f} s</td><td>{_e(t.at)}</td>"
        f"<td>{_e(t.sentence)}</td></tr>"
        for t in r.timeline
    )
    return (
        "<table class='timeline'><tr><th>offset</th><th>UTC</th><th>what happened</th></tr>"
        f"{rows}</table>"
    )


def _agents(r: RunReport) -> str:
    if not r.agents:
        return "<p class='muted'>No agent took part.</p>"
    rows = "".join(
        f"<tr><td>{_e(a.host)}</td><td>{_e(', '.join(a.roles))}</td>"
        f"<td>{_e(a.capabilities)}</td></tr>"
        for a in r.agents
    )
    head = "<tr><th>host</th><th>took part in</th><th>capabilities</th></tr>"
    return f"<table class='agents'>{head}{rows}</table>"


def _observation(o: Observation | None) -> str:
    if o is None:
        return "<p class='muted'>Nobody wrote an observation of this drill.</p>"
    detected = f"detected at {_when(o.detected_at)}" if o.detected else "not detected"
    mitigated = f"mitigated at {_when(o.mitigated_at)}" if o.mitigated else "not mitigated"
    notes = f"<blockquote>{_e(o.notes)}</blockquote>" if o.notes else ""
    return (
        f"<p>{_badge(o.verdict)} by {_e(o.author or 'someone')}: {detected}, {mitigated}.</p>"
        f"{notes}"
    )


def _plan(r: RunReport) -> str:
    if not r.plan:
        return "<p class='muted'>No plan was stored with this run.</p>"
    head = "".join(
        f"<th>{h}</th>" for h in ("step", "name", "fault", "host", "mechanism", "at", "for")
    )
    cells = "".join(
        "<tr>"
        + "".join(
            f"<td>{_e(v)}</td>"
            for v in (p.path, p.step, p.what, p.host, p.mechanism, p.start, p.duration)
        )
        + "</tr>"
        for p in r.plan
    )
    hosts = ", ".join(r.blast_radius) or "no host"
    return f"<table class='plan'><tr>{head}</tr>{cells}</table><p>Blast radius: {_e(hosts)}.</p>"


def run_body(r: RunReport, level: int = 1) -> str:
    """The report's sections; ``level`` 2 nests them in a game day's report."""
    h, h2 = f"h{level}", f"h{level + 1}"
    gameday = ""
    if r.gameday is not None:
        gameday = (
            f"<{h2}>Game day</{h2}><p>Drill {_e(r.gameday.position)} of game day "
            f"<strong>{_e(r.gameday.gameday)}</strong>, run {r.gameday.run}.</p>"
            + _observation(r.gameday.observation)
        )
    title = f'{_e(r.playbook)} <span class="muted">run {r.run_id}, version {r.version}</span>'
    return f"""<{h}>{title}</{h}>
<p class="verdict">{_badge(r.verdict)} {_e(r.reason)}</p>
{_figures(r)}
{_who(r)}
<{h2}>SLAs</{h2}>
{_slas(r)}
<{h2}>Probes, fault windows shaded</{h2}>
{_charts(r)}
<{h2}>Kernel evidence</{h2}>
{_kernel(r)}
<{h2}>Faults</{h2}>
{_faults(r)}
{gameday}
<{h2}>Timeline</{h2}>
{_timeline(r)}
<{h2}>Agents, collectors and capabilities</{h2}>
{_agents(r)}
<{h2}>Plan</{h2}>
{_plan(r)}
<section class="appendix">
<{h2}>Appendix: every kernel series</{h2}>
{_kernel_appendix(r)}
<{h2}>Appendix: the playbook, version {r.version}</{h2}>
<pre>{_e(r.playbook_text)}</pre>
</section>"""


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{_e(title)}</title>
<style>{_CSS}</style></head><body>
{body}
</body></html>
"""


def render_run_html(r: RunReport) -> str:
    return _page(f"Drillhall report: {r.playbook} run {r.run_id}", run_body(r))


def render_gameday_html(g: GameDayReport) -> str:
    rows = "".join(
        f"<tr><td>{d.position}</td><td>{_e(d.playbook)} v{d.version}</td>"
        f"<td>{_e(d.run_id)}</td><td>{_badge(d.state)}</td><td>{_e(d.reason)}</td>"
        f"<td>{'' if d.rto_seconds is None else f'{d.rto_seconds:.2f} s'}</td>"
        f"<td>{_e(d.rpo_sentence)}</td></tr>"
        for d in g.drills
    )
    observations = "".join(
        f"<h3>Drill {d.position}: {_e(d.playbook)}</h3>{_observation(d.observation)}"
        for d in g.drills
    )
    items = "".join(
        f"<li>{'☑' if a.done else '☐'} {_e(a.text)} ({_e(a.owner)})</li>" for a in g.action_items
    )
    who = g.started_by.name if g.started_by else "nobody recorded"
    title = f'{_e(g.gameday)} <span class="muted">run {g.run_id}, version {g.version}</span>'
    breach = f" First breach: {_e(g.first_breach)}." if g.first_breach else ""
    drills = "".join(
        f'<section class="drill">{run_body(d.report, 2)}</section>' for d in g.drills if d.report
    )
    body = f"""<h1>Game day {title}</h1>
<p class="verdict">{_badge(g.state)} {_e(g.reason)}</p>
<p>Started by <strong>{_e(who)}</strong> ({_e(g.source)}), created {_when(g.created_at)},
finished {_when(g.finished_at)}.{breach}</p>
<h2>Drills</h2>
<table class="drills"><tr><th>#</th><th>playbook</th><th>run</th><th>verdict</th><th>reason</th>
<th>RTO</th><th>RPO</th></tr>{rows}</table>
<h2>Observations</h2>
{observations or "<p class='muted'>No drill ran.</p>"}
<h2>Action items</h2>
{f"<ul class='action-items'>{items}</ul>" if items else "<p class='muted'>None.</p>"}
{drills}"""
    return _page(f"Drillhall report: game day {g.gameday} run {g.run_id}", body)


def render_html(doc: dict[str, Any]) -> str:
    """The HTML report of a run document (the CLI's `--report` before formats.py)."""
    return render_run_html(build_report(doc))
