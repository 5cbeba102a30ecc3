"""What a game-day run's live page shows of it, read from the rows each time it is asked: each
drill's state (not started, running and in which state, or its verdict), the reason of the
day, and once it has ended the combined result (verdicts, RTO and RPO against objectives, the
first breach), with the observations and action items people recorded.

The page refetches this (the fragment view) whenever the run's group says it changed, so it
is the one place that turns rows into sentences for that page.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from drills.engine.states import RunState
from drills.gameday.describe import duration, local_time, next_sentence, utc_time
from drills.gameday.document import GameDay as GameDayDocument
from drills.gameday.progress import next_step
from drills.playbook.errors import PlaybookError
from drills.web.models import ActionItem, DrillRun, GameDayRun, Observation

UTC = dt.UTC


@dataclass(frozen=True)
class DrillRow:
    number: int  # 1-based
    playbook: str
    version: str  # "v3" (the version it ran) or what the document asks ("latest", "v2")
    drill_run_id: int | None
    state: str  # "not-started" or the drill run's state, for styling and tests
    said: str  # "not started", "running: baseline", "passed"
    reason: str
    rto: str
    rpo: str
    breach: str
    observation: Observation | None
    incident: str  # the observation's incident, detected and mitigated, in the page's zone


@dataclass(frozen=True)
class RunView:
    run: GameDayRun
    drills: list[DrillRow]
    # The reason of the day: what it does next while it runs, why it ended once it has.
    reason: str
    first_breach: str
    action_items: list[ActionItem]
    zone: str  # the zone observation times are written in
    started: str  # who or what started it, and when

    @property
    def finished(self) -> bool:
        return self.run.finished


def document_of(run: GameDayRun) -> GameDayDocument | None:
    from drills.web.gameday_runs import document_of as parse

    try:
        return parse(run.version)
    except PlaybookError:
        return None


def observation_zone(document: GameDayDocument | None) -> str:
    """Times people write down are read in the schedule's zone; without a schedule, UTC."""
    if document is not None and document.schedule is not None:
        return document.schedule.timezone
    return "UTC"


def incident_said(seen: Observation | None, zone: str) -> str:
    if seen is None:
        return ""

    def when(at: dt.datetime | None) -> str:
        return f" at {at.astimezone(zoneinfo.ZoneInfo(zone)):%Y-%m-%d %H:%M} ({zone})" if at else ""

    detected = f"detected{when(seen.detected_at)}" if seen.detected else "not detected"
    mitigated = f"mitigated{when(seen.mitigated_at)}" if seen.mitigated else "not mitigated"
    return f"Incident {detected}; {mitigated}."


def drill_said(state: str | None) -> str:
    if state is None:
        return "not started"
    run_state = RunState(state)
    if run_state.terminal:
        return run_state.label
    if run_state is RunState.AWAITING_APPROVAL:
        return "waiting for approval"
    return f"running: {run_state.label}"


def rto_said(result: dict[str, Any]) -> str:
    rto, objective = result.get("rto"), result.get("rto_objective")
    goal = f"objective {duration(float(objective))}" if objective is not None else "no objective"
    if rto is None:
        return f"not measured ({goal})"
    measured = f"{float(rto):.1f} s"
    if objective is None:
        return f"{measured} ({goal})"
    verdict = "within" if float(rto) <= float(objective) else "missed"
    return f"{measured}, {goal}: {verdict}"


def rpo_said(rpo: Any, objective: Any) -> str:
    goal = _rpo_goal(objective)
    if not isinstance(rpo, dict):
        return f"not measured: no canary ({goal})"
    if rpo.get("error"):
        return f"could not be measured: {rpo['error']} ({goal})"
    lost, acknowledged = rpo.get("lost", 0), rpo.get("acknowledged", 0)
    return f"{lost} of {acknowledged} acknowledged writes lost ({goal})"


def _rpo_goal(objective: Any) -> str:
    if objective is None:
        return "no objective"
    if isinstance(objective, int):
        return f"objective {objective} writes"
    return f"objective {duration(float(objective))} of writes"


def rpo_objective(drill: DrillRun | None) -> Any:
    """The RPO objective of the playbook version a drill ran (the result does not carry it)."""
    if drill is None:
        return None
    from drills.playbook.parser import parse_playbook

    try:
        return parse_playbook(drill.version.content).objectives.rpo
    except Exception:  # an unreadable old version: the page says "no objective"
        return None


def breach_said(breach: Any) -> str:
    if not isinstance(breach, dict):
        return ""
    said = f"SLA “{breach.get('sla', '')}” breached"
    if breach.get("reason"):
        said += f": {breach['reason']}"
    t = breach.get("t")
    if isinstance(t, int | float):
        said += f" at {dt.datetime.fromtimestamp(t, UTC):%H:%M:%S} UTC"
    return said


def _live_breach(drill: DrillRun) -> str:
    verdicts = (drill.result or {}).get("verdicts") or {}
    breached = [sla for sla, state in verdicts.items() if state in ("breached", "failed")]
    return f"SLA “{breached[0]}” breached" if breached else ""


def run_view(run: GameDayRun) -> RunView:
    document = document_of(run)
    drills = {
        d.gameday_position: d
        for d in DrillRun.objects.filter(gameday_run=run).select_related("version__playbook")
    }
    observations = {o.drill_run_id: o for o in Observation.objects.filter(run=run)}
    combined = {
        d.get("position"): d for d in (run.result or {}).get("drills", []) if isinstance(d, dict)
    }
    entries = document.drills if document is not None else []
    zone = observation_zone(document)
    rows = []
    for position, entry in enumerate(entries):
        drill = drills.get(position)
        ended = combined.get(position + 1) if run.finished else None
        result = (drill.result or {}) if drill is not None else {}
        state = drill.state if drill is not None else None
        rows.append(
            DrillRow(
                number=position + 1,
                playbook=entry.playbook,
                version=f"v{drill.version.number}"
                if drill is not None
                else ("latest" if entry.version == "latest" else f"v{entry.version}"),
                drill_run_id=drill.id if drill is not None else None,
                state=state or "not-started",
                said=drill_said(state),
                reason=str(result.get("reason") or "")
                if drill is not None and drill.finished
                else "",
                rto=rto_said(result) if drill is not None and drill.finished else "",
                rpo=rpo_said(result.get("rpo"), rpo_objective(drill))
                if drill is not None and drill.finished
                else "",
                breach=breach_said(ended.get("first_breach"))
                if ended
                else (_live_breach(drill) if drill is not None else ""),
                observation=observations.get(drill.id) if drill is not None else None,
                incident=incident_said(observations.get(drill.id), zone)
                if drill is not None
                else "",
            )
        )
    if run.finished:
        reason = run.reason
        first = (run.result or {}).get("first_breach")
        first_breach = (
            f"Drill {first.get('position')} ({first.get('playbook')}): {breach_said(first)}"
            if isinstance(first, dict)
            else "No SLA was breached."
        )
    else:
        reason = _next(run, document)
        first_breach = ""
    return RunView(
        run=run,
        drills=rows,
        reason=reason,
        first_breach=first_breach,
        action_items=list(ActionItem.objects.filter(run=run).select_related("owner", "created_by")),
        zone=zone,
        started=started_said(run, document),
    )


def started_said(run: GameDayRun, document: GameDayDocument | None) -> str:
    if run.source == "schedule" and run.fire_time is not None:
        schedule = document.schedule if document is not None else None
        return (
            f"Started by its schedule, for the fire time {local_time(run.fire_time, schedule)} "
            f"({utc_time(run.fire_time)})."
        )
    who = run.started_by.get_username() if run.started_by else "someone"
    sources = {"web": "from its page", "cli": "from the command line", "api": "through the API"}
    where = sources.get(run.source, "")
    return f"Started by {who} {where} at {utc_time(run.created_at)}.".replace("  ", " ")


def _next(run: GameDayRun, document: GameDayDocument | None) -> str:
    if document is None:
        return "Its document cannot be read; beat's clock will end it."
    from drills.web.gameday_runs import drill_statuses

    statuses = drill_statuses(run, document)
    stop = run.stop_reason or ("stop requested" if run.stop_requested_at else None)
    step = next_step(document.policy, statuses, timezone.now(), stop)
    return next_sentence(step, statuses)
