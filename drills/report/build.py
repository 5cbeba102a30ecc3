"""Build the report model from a stored run, given as plain data.

The input is the run document (drills/web/run_document.py) with a few more stored facts the
report loader adds (drills/web/report_source.py): the run's key, who started it, and its game
day. Nothing here reads a clock, the inventory or a database: the same document always makes
the same report.
"""

from __future__ import annotations

from dataclasses import astuple, replace
from datetime import UTC, datetime
from typing import Any

from drills.engine.plan import Plan
from drills.playbook.redaction import redact, redact_data
from drills.report import kernel_evidence
from drills.report.model import (
    REPORT_FORMAT,
    ActionItem,
    Agent,
    ChartPoint,
    ChartWindow,
    Collector,
    FaultWindow,
    GameDayDrill,
    GameDayLink,
    GameDayReport,
    Objectives,
    Observation,
    Person,
    PlanRow,
    ProbeChart,
    RunReport,
    SlaRow,
    TimelineEntry,
)
from drills.report.sentences import describe, rpo_sentence

Event = dict[str, Any]


# A sample's own fields (drills/engine/events.py): only their string values need redacting,
# and those repeat (probe, host and source names) thousands of times in a long run.
_SAMPLE_KEYS = frozenset(
    {"probe", "ok", "latency_ms", "status", "error", "value", "host", "source", "at", "seq",
     "count"}
)  # fmt: skip


def _redacted(events: list[Event]) -> list[Event]:
    """Every event with no credential in it, as redact_data makes it, without redacting the
    same probe name a hundred thousand times."""
    cache: dict[str, str] = {}
    out = []
    for e in events:
        data = e.get("data")
        if e.get("type") == "sample" and isinstance(data, dict) and data.keys() <= _SAMPLE_KEYS:
            clean = {}
            for key, value in data.items():
                if isinstance(value, str):
                    if value not in cache:
                        cache[value] = redact(value)
                    value = cache[value]
                clean[key] = value
            out.append({**e, "data": clean})
        else:
            out.append(redact_data(e))
    return out


def clock(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%H:%M:%S.%f")[:-3]


def _is_kernel(e: Event) -> bool:
    return e["type"] == "sample" and str(e["data"].get("probe", "")).startswith("kernel.")


def _iso_seconds(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    try:
        return round((datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds(), 3)
    except ValueError:
        return None


def _declared(text: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The SLAs and objectives as the stored playbook version declares them.

    The version's text is parsed by today's parser; a version it no longer reads (or a
    redacted one) still reports, from its events alone.
    """
    from drills.playbook.errors import PlaybookError
    from drills.playbook.parser import parse_playbook

    try:
        playbook = parse_playbook(text)
    except PlaybookError:
        return [], {}
    slas = [
        {"name": s.name, "assert": s.assert_, "during": str(s.during), "on_breach": s.on_breach}
        for s in playbook.slas
    ]
    objectives: dict[str, Any] = {}
    if playbook.objectives is not None:
        objectives = {"rto": playbook.objectives.rto, "rpo": playbook.objectives.rpo}
    return slas, objectives


def _faults(events: list[Event], t0: float) -> tuple[list[FaultWindow], dict[str, dict]]:
    applied: dict[str, Event] = {}
    ended: dict[str, Event] = {}
    for e in events:
        fid = str(e["data"].get("fault_id", ""))
        if e["type"] == "fault_applied":
            applied.setdefault(fid, e)
        elif e["type"] in ("fault_reverted", "fault_unconfirmed") and fid in applied:
            ended.setdefault(fid, e)
    windows, params = [], {}
    for fid, e in applied.items():
        d = e["data"]
        end = ended.get(fid)
        params[fid] = d.get("params") if isinstance(d.get("params"), dict) else {}
        windows.append(
            FaultWindow(
                fault_id=fid,
                kind=str(d.get("kind", "")),
                host=str(d.get("host", "")),
                mechanism=str(d.get("mechanism") or ""),
                step=str(d.get("path", d.get("step", ""))),
                start_offset=round(e["t"] - t0, 3),
                end_offset=None if end is None else round(end["t"] - t0, 3),
                ended=(
                    "still on at the end of the record"
                    if end is None
                    else "reverted"
                    if end["type"] == "fault_reverted"
                    else "unconfirmed"
                ),
            )
        )
    return windows, params


def _objectives(result: dict[str, Any], declared: dict[str, Any]) -> Objectives:
    rto = result.get("rto")
    objective = result.get("rto_objective")
    if objective is None and isinstance(declared.get("rto"), int | float):
        objective = float(declared["rto"])
    rto_met = None if rto is None or objective is None else rto <= objective
    if rto is None:
        rto_text = "not measured"
    else:
        rto_text = f"{rto:.2f} s"
    if objective is not None:
        judged = ", met" if rto_met else ", missed" if rto_met is False else ""
        rto_text += f" (objective {objective:g} s{judged})"
    rpo = result.get("rpo") if isinstance(result.get("rpo"), dict) else None
    wanted = declared.get("rpo")
    rpo_objective = None
    rpo_met = None
    if wanted is not None:
        rpo_objective = f"{wanted:g} s" if isinstance(wanted, float) else f"{wanted} writes"
    if rpo is not None and wanted is not None and not rpo.get("error"):
        if isinstance(wanted, float):
            rpo_met = float(rpo.get("span_seconds") or 0.0) <= wanted
        else:
            rpo_met = int(rpo.get("lost") or 0) <= int(wanted)
    rpo_text = rpo_sentence(rpo)
    if rpo_objective is not None:
        verdict = ", met" if rpo_met else ", missed" if rpo_met is False else ""
        rpo_text += f" (objective {rpo_objective}{verdict})"
    return Objectives(
        rto_seconds=None if rto is None else round(float(rto), 3),
        rto_objective_seconds=objective,
        rto_met=rto_met,
        rto_sentence=rto_text,
        rpo_acknowledged=None if rpo is None else rpo.get("acknowledged"),
        rpo_lost=None if rpo is None else rpo.get("lost"),
        rpo_span_seconds=None if rpo is None else rpo.get("span_seconds"),
        rpo_objective=rpo_objective,
        rpo_met=rpo_met,
        rpo_sentence=rpo_text,
    )


def _slas(
    declared: list[dict[str, Any]], result: dict[str, Any], events: list[Event], t0: float
) -> list[SlaRow]:
    verdicts = result.get("verdicts") if isinstance(result.get("verdicts"), dict) else {}
    names = [s["name"] for s in declared]
    names += [n for n in verdicts if n not in names]
    changes: dict[str, list[Event]] = {}
    for e in events:
        if e["type"] == "verdict":
            name = str(e["data"].get("sla", ""))
            changes.setdefault(name, []).append(e)
            if name not in names:
                names.append(name)
    by_name = {s["name"]: s for s in declared}
    rows = []
    for name in names:
        spec = by_name.get(name, {})
        seen = changes.get(name, [])
        breach = next((e for e in seen if e["data"].get("state") == "breached"), None)
        values = [
            e["data"]["value"] for e in seen if isinstance(e["data"].get("value"), int | float)
        ]
        assertion = str(spec.get("assert", ""))
        # The worst is the largest for "<"-style limits, the smallest for ">"-style ones.
        low_is_bad = ">" in assertion and "<" not in assertion
        worst = (min(values) if low_is_bad else max(values)) if values else None
        verdict = str(
            verdicts.get(name) or (seen[-1]["data"].get("state") if seen else "not judged")
        )
        if breach is not None:
            b = breach["data"]
            shown = b.get("value")
            first = f"first breached at +{breach['t'] - t0:.1f} s"
            first += f" (value {shown:.4g})" if isinstance(shown, int | float) else ""
            sentence = f"“{name}” {verdict}: {first}" + (
                f": {b['reason']}" if b.get("reason") else ""
            )
        else:
            sentence = f"“{name}” {verdict}: never breached"
        rows.append(
            SlaRow(
                name=name,
                assertion=assertion,
                during=str(spec.get("during", "")),
                on_breach=str(spec.get("on_breach", "")),
                verdict=verdict,
                first_breach_offset=None if breach is None else round(breach["t"] - t0, 3),
                first_breach_value=None if breach is None else breach["data"].get("value"),
                first_breach_reason=""
                if breach is None
                else str(breach["data"].get("reason") or ""),
                worst_value=worst,
                sentence=sentence,
            )
        )
    return rows


def _downsample(points: list[ChartPoint], limit: int) -> list[ChartPoint]:
    """At most ``limit`` points: per bucket its lowest and highest value and every error, so
    a spike or a failure never disappears from a long run's chart."""
    if len(points) <= limit:
        return points
    buckets = max(limit // 2, 1)
    start, end = points[0].offset, points[-1].offset
    width = (end - start) / buckets or 1.0
    grouped: dict[int, list[ChartPoint]] = {}
    for p in points:
        grouped.setdefault(min(int((p.offset - start) / width), buckets - 1), []).append(p)
    out: list[ChartPoint] = []
    for _, group in sorted(grouped.items()):
        valued = [p for p in group if p.value is not None]
        keep = {id(p): p for p in group if not p.ok}
        if valued:
            low = min(valued, key=lambda p: p.value or 0.0)
            high = max(valued, key=lambda p: p.value or 0.0)
            keep.setdefault(id(low), low)
            keep.setdefault(id(high), high)
        out.extend(sorted(keep.values(), key=lambda p: p.offset))
    return out


def _probe_charts(
    samples: list[Event], t0: float, start: float, end: float, limit: int
) -> list[ProbeChart]:
    by_probe: dict[str, list[Event]] = {}
    for e in samples:
        by_probe.setdefault(str(e["data"].get("probe", "?")), []).append(e)
    charts = []
    for probe, group in by_probe.items():
        latency = any(isinstance(e["data"].get("latency_ms"), int | float) for e in group)
        points = []
        for e in group:
            offset = e["t"] - t0
            if not start <= offset <= end:
                continue
            d = e["data"]
            raw = d.get("latency_ms") if latency else d.get("value")
            value = float(raw) if isinstance(raw, int | float) else None
            points.append(ChartPoint(round(offset, 3), value, bool(d.get("ok"))))
        charts.append(
            ProbeChart(
                probe=probe,
                unit="ms" if latency else "value",
                samples=len(group),
                errors=sum(1 for e in group if not e["data"].get("ok")),
                points=_downsample(points, limit),
            )
        )
    return charts


def _agents(events: list[Event], faults: list[FaultWindow]) -> list[Agent]:
    collectors: dict[str, list[Collector]] = {}
    for e in events:
        if e["type"] == "collectors":
            d = e["data"]
            listed = d.get("collectors") if isinstance(d.get("collectors"), list) else []
            collectors[str(d.get("host", "?"))] = [
                Collector(
                    str(c.get("name", "?")), str(c.get("source") or ""), str(c.get("reason") or "")
                )
                for c in listed
                if isinstance(c, dict)
            ]
    mechanisms: dict[str, list[str]] = {}
    for f in faults:
        mechanisms.setdefault(f.host, [])
        what = f"{f.kind} with {f.mechanism}" if f.mechanism else f.kind
        if what not in mechanisms[f.host]:
            mechanisms[f.host].append(what)
    agents = []
    for host in sorted(set(collectors) | set(mechanisms)):
        roles = (["faults"] if host in mechanisms else []) + (
            ["kernel evidence"] if host in collectors else []
        )
        listed = collectors.get(host, [])
        ebpf = [c.name for c in listed if c.source == "ebpf"]
        proc = [c.name for c in listed if c.source == "proc"]
        off = [c.name for c in listed if c.source not in ("ebpf", "proc")]
        parts = []
        if mechanisms.get(host):
            parts.append("applied " + ", ".join(mechanisms[host]))
        if ebpf:
            parts.append("eBPF for " + ", ".join(ebpf))
        if proc:
            parts.append("/proc only for " + ", ".join(proc))
        if off:
            parts.append("no collector for " + ", ".join(off))
        agents.append(
            Agent(
                host=host,
                roles=roles,
                mechanisms=mechanisms.get(host, []),
                collectors=listed,
                capabilities="; ".join(parts) or "nothing recorded",
            )
        )
    return agents


def _plan(stored: dict[str, Any] | None) -> tuple[list[PlanRow], list[str], Plan | None]:
    if not stored:
        return [], [], None
    try:
        plan = Plan.from_dict(stored)
    except (KeyError, TypeError, ValueError):
        return [], [], None
    rows = [PlanRow(*astuple(r)) for r in plan.rows()]
    return rows, list(plan.blast_radius.hosts), plan


def _observation(d: dict[str, Any] | None) -> Observation | None:
    if not d:
        return None
    return Observation(
        verdict=str(d.get("verdict", "")),
        detected=bool(d.get("detected")),
        detected_at=d.get("detected_at"),
        mitigated=bool(d.get("mitigated")),
        mitigated_at=d.get("mitigated_at"),
        notes=str(d.get("notes") or ""),
        author=str(d.get("author") or ""),
    )


def _person(d: Any) -> Person | None:
    if not isinstance(d, dict) or not d.get("name"):
        return None
    return Person(str(d["name"]), d.get("at"))


def build_report(
    doc: dict[str, Any], window: ChartWindow | None = None, chart_points: int = 1200
) -> RunReport:
    """The report of the stored run ``doc``; ``window`` bounds the charts around the faults."""
    # Whoever built the document, no credential reaches a report.
    events: list[Event] = sorted(_redacted(doc.get("events") or []), key=lambda e: e["seq"])
    doc = redact_data({k: v for k, v in doc.items() if k != "events"})
    window = window or ChartWindow()
    run = doc["run"]
    result = doc.get("result") if isinstance(doc.get("result"), dict) else {}
    # The run's own clock starts when it does: time spent queued before it is not the drill's.
    started = [e for e in events if e["type"] != "queued"] or events
    t0 = started[0]["t"] if started else 0.0
    t_end = events[-1]["t"] if events else 0.0
    declared_slas, declared_objectives = _declared(str(doc.get("playbook") or ""))

    faults, params = _faults(events, t0)
    probe_samples = [e for e in events if e["type"] == "sample" and not _is_kernel(e)]
    kernel_samples = [e for e in events if _is_kernel(e)]

    # The chart window: around the faults (first applied .. last ended), as FIS does.
    span_end = round(t_end - t0, 3)
    chart_start, chart_end = 0.0, span_end
    if faults:
        first = min(f.start_offset for f in faults)
        last = max(f.end_offset if f.end_offset is not None else span_end for f in faults)
        if window.before_seconds is not None:
            chart_start = max(0.0, first - window.before_seconds)
        if window.after_seconds is not None:
            chart_end = min(span_end, last + window.after_seconds)

    spans = [
        kernel_evidence.Span(
            t0 + f.start_offset, t0 + (f.end_offset if f.end_offset is not None else span_end)
        )
        for f in faults
    ]
    series = kernel_evidence.kernel_series(kernel_samples, spans, t0, t_end)
    series = [replace(s, points=_downsample(s.points, chart_points // 4)) for s in series]
    rows, blast, plan = _plan(doc.get("plan"))
    peers = {c.address: c.host for c in plan.collectors} if plan else {}
    judged = {str(e["data"].get("fault_id")): e["data"] for e in events if e["type"] == "no_effect"}
    watched = {str(e["data"].get("host")) for e in events if e["type"] == "collectors"}
    watched |= {str(e["data"].get("host")) for e in kernel_samples}

    timeline = [
        TimelineEntry(
            e["seq"],
            round(e["t"] - t0, 3),
            clock(e["t"]),
            e["type"],
            describe(e["type"], e["data"]),
        )
        for e in events
        if e["type"] != "sample"
    ]
    abort = next((e for e in events if e["type"] == "abort"), None)
    approval = doc.get("approval") if isinstance(doc.get("approval"), dict) else None
    gameday = doc.get("gameday") if isinstance(doc.get("gameday"), dict) else None
    state = str(result.get("state") or run.get("state") or "")
    return RunReport(
        format=REPORT_FORMAT,
        run_id=int(run["id"]),
        run_key=str(run.get("key") or ""),
        playbook=str(run.get("playbook", "")),
        version=int(run.get("version") or 0),
        content_hash=str(run.get("content_hash") or ""),
        state=str(run.get("state") or state),
        verdict=state,
        reason=str(result.get("reason") or ""),
        source=str(run.get("source") or ""),
        created_at=run.get("created_at"),
        started_at=run.get("started_at"),
        finished_at=run.get("finished_at"),
        duration_seconds=_iso_seconds(run.get("started_at"), run.get("finished_at")),
        started_by=_person(doc.get("started_by")),
        approved_by=(
            Person(str(approval.get("approver")), approval.get("approved_at")) if approval else None
        ),
        aborted=str(abort["data"].get("reason") or "") if abort else "",
        objectives=_objectives(result, declared_objectives),
        slas=_slas(declared_slas, result, events, t0),
        faults=faults,
        proofs=kernel_evidence.proofs(faults, params, peers, kernel_samples, judged, watched, t0),
        timeline=timeline,
        chart_window=window,
        chart_start=round(chart_start, 3),
        chart_end=round(chart_end, 3),
        probe_charts=_probe_charts(probe_samples, t0, chart_start, chart_end, chart_points),
        kernel_summary=kernel_evidence.kernel_summary(series),
        kernel_series=series,
        agents=_agents(events, faults),
        plan=rows,
        blast_radius=blast,
        gameday=(
            GameDayLink(
                gameday=str(gameday.get("gameday", "")),
                run=int(gameday.get("run") or 0),
                position=gameday.get("position"),
                observation=_observation(gameday.get("observation")),
            )
            if gameday
            else None
        ),
        playbook_text=str(doc.get("playbook") or ""),
        probe_samples=len(probe_samples),
        probe_errors=sum(1 for e in probe_samples if not e["data"].get("ok")),
        events=events,
    )


def build_gameday_report(doc: dict[str, Any], window: ChartWindow | None = None) -> GameDayReport:
    """A game day run's combined report: each drill's verdict and full report, the
    observations, the action items. ``doc`` is what drills/web/report_source.py loads."""
    # Each drill's document is redacted by build_report; the rest here.
    drills_in = [
        {
            **redact_data({k: v for k, v in d.items() if k != "document"}),
            "document": d.get("document"),
        }
        for d in doc.get("drills") or []
        if isinstance(d, dict)
    ]
    doc = {**redact_data({k: v for k, v in doc.items() if k != "drills"}), "drills": drills_in}
    run = doc["run"]
    result = doc.get("result") if isinstance(doc.get("result"), dict) else {}
    combined = {d.get("position"): d for d in result.get("drills") or [] if isinstance(d, dict)}
    drills = []
    for entry in doc.get("drills") or []:
        position = int(entry.get("position") or 0)
        summary = combined.get(position, {})
        document = entry.get("document")
        report = build_report(document, window) if document else None
        rpo = summary.get("rpo") if isinstance(summary.get("rpo"), dict) else None
        drills.append(
            GameDayDrill(
                position=position,
                playbook=str(entry.get("playbook") or summary.get("playbook") or ""),
                version=int(entry.get("version") or summary.get("version") or 0),
                run_id=entry.get("run"),
                state=str((report.verdict if report else "") or summary.get("state") or "not run"),
                reason=str((report.reason if report else "") or summary.get("reason") or ""),
                rto_seconds=(report.objectives.rto_seconds if report else summary.get("rto")),
                rto_objective_seconds=(
                    report.objectives.rto_objective_seconds
                    if report
                    else summary.get("rto_objective")
                ),
                rpo_sentence=(report.objectives.rpo_sentence if report else rpo_sentence(rpo)),
                observation=_observation(entry.get("observation")),
                report=report,
            )
        )
    breach = result.get("first_breach")
    if isinstance(breach, dict):
        breach = (
            f"drill {breach.get('position', '?')} ({breach.get('playbook', '?')}), SLA "
            f"“{breach.get('sla', '?')}”: {breach.get('reason') or 'breached'}"
        )
    return GameDayReport(
        format=REPORT_FORMAT,
        gameday=str(doc.get("gameday") or ""),
        run_id=int(run["id"]),
        version=int(run.get("version") or 0),
        state=str(run.get("state") or result.get("state") or ""),
        reason=str(run.get("reason") or result.get("reason") or ""),
        source=str(run.get("source") or ""),
        started_by=_person(doc.get("started_by")),
        created_at=run.get("created_at"),
        finished_at=run.get("finished_at"),
        first_breach=str(breach or ""),
        drills=drills,
        action_items=[
            ActionItem(str(a.get("text", "")), str(a.get("owner", "")), bool(a.get("done")))
            for a in doc.get("action_items") or []
            if isinstance(a, dict)
        ],
    )
