"""A self-contained HTML report (no external assets) rendered from a run document."""

from __future__ import annotations

from dataclasses import astuple
from html import escape
from typing import Any

from drills.engine.plan import Plan
from drills.playbook.redaction import redact_data

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2430;max-width:1100px}
h1{margin-bottom:.2rem} .muted{color:#667}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:1rem;font-weight:600;color:#fff}
.passed{background:#1a7f37}.failed,.aborted,.error,.breached{background:#c62828}
.holding,.pending{background:#b26a00} .not-judged{background:#667}
table{border-collapse:collapse;width:100%;margin:1rem 0}
td,th{border-bottom:1px solid #dde;padding:.3rem .5rem;text-align:left;font-size:.9rem}
svg{background:#fafbfc;border:1px solid #dde}
"""


def _badge(state: str) -> str:
    # "not judged" is a state of two words; a class is one.
    return f'<span class="badge {escape(state.replace(" ", "-"))}">{escape(state)}</span>'


def _is_kernel(event: dict[str, Any]) -> bool:
    return event["type"] == "sample" and str(event["data"].get("probe", "")).startswith("kernel.")


def _is_probe(event: dict[str, Any]) -> bool:
    return event["type"] == "sample" and not _is_kernel(event)


def _fault_windows(events: list[dict[str, Any]]) -> list[tuple[float, float]]:
    applied: dict[str, float] = {}
    windows = []
    for e in events:
        if e["type"] == "fault_applied":
            applied[e["data"]["fault_id"]] = e["t"]
        elif (
            e["type"] in ("fault_reverted", "fault_unconfirmed")
            and e["data"]["fault_id"] in applied
        ):
            windows.append((applied.pop(e["data"]["fault_id"]), e["t"]))
    return windows


def _sparkline(
    points: list[tuple[float, float]],
    t0: float,
    span: float,
    windows: list[tuple[float, float]],
    width: int = 360,
    height: int = 40,
) -> str:
    top = max((v for _, v in points), default=0.0) or 1.0

    def x(t: float) -> float:
        return (t - t0) / span * width

    shaded = "".join(
        f'<rect x="{x(a):.1f}" y="0" width="{max(x(b) - x(a), 1):.1f}" height="{height}" '
        'fill="#c6282822"/>'
        for a, b in windows
    )
    line = " ".join(f"{x(t):.1f},{height - 2 - v / top * (height - 4):.1f}" for t, v in points)
    return (
        f'<svg width="{width}" height="{height}" role="img">{shaded}'
        f'<polyline fill="none" stroke="#6f42c1" stroke-width="1.2" points="{line}"/></svg>'
    )


def _kernel_section(events: list[dict[str, Any]], t0: float) -> str:
    """Each kernel series: its source, totals inside and outside fault windows, a sparkline."""
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in events:
        if _is_kernel(e):
            key = (str(e["data"].get("host") or "?"), str(e["data"]["probe"])[len("kernel.") :])
            series.setdefault(key, []).append(e)
    notes = [e["data"] for e in events if e["type"] == "no_effect"]
    warn = "".join(
        f"<p>{_badge('failed')} {escape(n['fault_id'])}: {escape(n['message'])}</p>" for n in notes
    )
    if not series:
        return warn + "<p class='muted'>No kernel collectors ran.</p>"
    windows = _fault_windows(events)
    span = max(max(e["t"] for e in events) - t0, 1.0)
    rows = []
    for (host, metric), samples in sorted(series.items()):
        points = [
            (float(s["data"].get("at") or s["t"]), float(s["data"]["value"])) for s in samples
        ]
        inside = sum(v for t, v in points if any(a < t <= b + 1.0 for a, b in windows))
        outside = sum(v for _, v in points) - inside
        source = samples[-1]["data"].get("source") or ""
        rows.append(
            f"<tr><td>{escape(host)}</td><td>{escape(metric)}</td><td>{escape(source)}</td>"
            f"<td>{inside:g}</td><td>{outside:g}</td>"
            f"<td>{_sparkline(points, t0, span, windows)}</td></tr>"
        )
    return (
        warn + "<table><tr><th>host</th><th>metric</th><th>source</th><th>during faults</th>"
        f"<th>otherwise</th><th>per interval, fault windows shaded</th></tr>{''.join(rows)}</table>"
    )


def _chart(events: list[dict[str, Any]], t0: float, width: int = 1000, height: int = 220) -> str:
    samples = [e for e in events if _is_probe(e)]
    if not samples:
        return "<p class='muted'>No probe samples.</p>"
    t_end = max(e["t"] for e in events)
    span = max(t_end - t0, 1.0)
    latencies = [s["data"].get("latency_ms") or 0.0 for s in samples]
    top = max(max(latencies), 1.0)

    def x(t: float) -> float:
        return 40 + (t - t0) / span * (width - 50)

    def y(v: float) -> float:
        return height - 20 - v / top * (height - 40)

    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="probe latency">']
    for start, end in _fault_windows(events):
        parts.append(
            f'<rect x="{x(start):.1f}" y="10" width="{max(x(end) - x(start), 1):.1f}" '
            f'height="{height - 30}" fill="#c6282822"><title>fault</title></rect>'
        )
    points = " ".join(
        f"{x(s['t']):.1f},{y(v):.1f}" for s, v in zip(samples, latencies, strict=True)
    )
    parts.append(f'<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="{points}"/>')
    for s in samples:
        if not s["data"].get("ok"):
            parts.append(
                f'<circle cx="{x(s["t"]):.1f}" cy="{height - 14}" r="2.5" fill="#c62828"/>'
            )
    parts.append(
        f'<text x="4" y="16" font-size="11">{top:.0f} ms</text>'
        f'<text x="4" y="{height - 22}" font-size="11">0</text>'
        f'<text x="{width - 60}" y="{height - 4}" font-size="11">{span:.0f} s</text>'
        f'<text x="44" y="{height - 4}" font-size="11" fill="#c62828">● probe error</text></svg>'
    )
    return "".join(parts)


def _plan_section(stored: dict[str, Any] | None) -> str:
    """The plan stored with the run: which fault landed on which host, when, for how long."""
    if not stored:
        return '<p class="muted">No plan was stored with this run.</p>'
    plan = Plan.from_dict(stored)
    cells = "".join(
        "<tr>" + "".join(f"<td>{escape(value)}</td>" for value in astuple(row)) + "</tr>"
        for row in plan.rows()
    )
    hosts = ", ".join(plan.blast_radius.hosts) or "no host"
    head = "".join(
        f"<th>{h}</th>" for h in ("step", "name", "fault", "host", "mechanism", "at", "for")
    )
    return f"<table><tr>{head}</tr>{cells}</table><p>Blast radius: {escape(hosts)}.</p>"


def _approval(approval: dict[str, Any] | None) -> str:
    """Who let the run fault protected hosts, and exactly which version they approved."""
    if not approval:
        return ""
    return (
        f"<p>Approved by <strong>{escape(str(approval['approver']))}</strong> at "
        f"{escape(str(approval['approved_at']))} for {escape(str(approval['playbook']))} "
        f"v{escape(str(approval['version']))}, content sha256 "
        f"<code>{escape(str(approval['content_hash']))}</code>.</p>"
    )


def render_html(doc: dict[str, Any]) -> str:
    doc = redact_data(doc)  # whoever built the document, no credential reaches the report
    run, result, events = doc["run"], doc.get("result") or {}, doc["events"]
    t0 = events[0]["t"] if events else 0.0
    rows = []
    for e in events:
        if e["type"] == "sample":
            continue
        detail = ", ".join(f"{k}={v}" for k, v in e["data"].items() if k not in ("previous",))
        rows.append(
            f"<tr><td>{e['seq']}</td><td>+{e['t'] - t0:.2f}s</td><td>{escape(e['type'])}</td>"
            f"<td>{escape(detail)}</td></tr>"
        )
    verdicts = "".join(
        f"<tr><td>{escape(name)}</td><td>{_badge(state)}</td></tr>"
        for name, state in (result.get("verdicts") or {}).items()
    )
    samples = [e for e in events if _is_probe(e)]
    errors = sum(1 for s in samples if not s["data"].get("ok"))
    rto = result.get("rto")
    objective = result.get("rto_objective")
    rpo = result.get("rpo")
    rpo_text = "no canary probe"
    if rpo:
        rpo_text = f"{rpo['lost']} of {rpo['acknowledged']} acknowledged writes lost"
    rto_text = "not measured" if rto is None else f"{rto:.2f} s"
    if objective is not None:
        rto_text += f" (objective {objective:g} s)"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Drillhall report: {escape(run["playbook"])} run {run["id"]}</title>
<style>{_CSS}</style></head><body>
<h1>{escape(run["playbook"])}
<span class="muted">run {run["id"]}, version {run["version"]}</span></h1>
<p>{_badge(run["state"])} {escape(result.get("reason", ""))}</p>
<p>Started {escape(str(run["started_at"]))}, finished {escape(str(run["finished_at"]))}.
RTO: <strong>{rto_text}</strong>. RPO: <strong>{escape(rpo_text)}</strong>.
Probe samples: {len(samples)}, errors: {errors}.</p>
{_approval(doc.get("approval"))}
<h2>Probe latency, fault windows shaded</h2>
{_chart(events, t0)}
<h2>Kernel evidence</h2>
{_kernel_section(events, t0)}
<h2>SLA verdicts</h2>
<table><tr><th>SLA</th><th>verdict</th></tr>{verdicts}</table>
<h2>Plan</h2>
{_plan_section(doc.get("plan"))}
<h2>Timeline</h2>
<table><tr><th>#</th><th>time</th><th>event</th><th>detail</th></tr>{"".join(rows)}</table>
<h2>Playbook</h2>
<pre>{escape(doc.get("playbook", ""))}</pre>
</body></html>
"""
