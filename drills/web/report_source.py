"""What a report is built from, loaded from the database as plain data: the run document
(run_document.py) and the few stored facts it lacks (the run's key, who started it, its game
day and the observation of it). Only stored rows: no inventory, no clock.

A game day run's source is its own facts, each drill's run document, its observations and its
action items.
"""

from __future__ import annotations

from typing import Any

from drills.web.models import DrillRun, GameDayRun, Observation
from drills.web.run_document import run_document


def _person(user: Any, at: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"name": user.get_username(), "at": at.isoformat() if at else None}


def _iso(at: Any) -> str | None:
    return at.isoformat() if at else None


def observation_data(observation: Observation | None) -> dict[str, Any] | None:
    if observation is None:
        return None
    return {
        "verdict": observation.verdict,
        "detected": observation.detected,
        "detected_at": _iso(observation.detected_at),
        "mitigated": observation.mitigated,
        "mitigated_at": _iso(observation.mitigated_at),
        "notes": observation.notes,
        "author": observation.author.get_username() if observation.author else "",
    }


def run_source(run: DrillRun) -> dict[str, Any]:
    doc = run_document(run)
    doc["run"]["key"] = run.key
    doc["started_by"] = _person(run.started_by, run.created_at)
    if run.gameday_run_id is not None:
        gameday_run = run.gameday_run
        assert gameday_run is not None
        doc["gameday"] = {
            "gameday": gameday_run.gameday.name,
            "run": gameday_run.id,
            "position": None if run.gameday_position is None else run.gameday_position + 1,
            "observation": observation_data(Observation.objects.filter(drill_run=run).first()),
        }
    return doc


def gameday_source(run: GameDayRun) -> dict[str, Any]:
    drills = []
    for drill in run.drill_runs.select_related("version__playbook", "started_by").order_by(
        "gameday_position"
    ):
        document = run_source(drill)
        drills.append(
            {
                "position": (drill.gameday_position or 0) + 1,
                "playbook": drill.version.playbook.name,
                "version": drill.version.number,
                "run": drill.id,
                "document": document,
                "observation": document.get("gameday", {}).get("observation"),
            }
        )
    result = run.result if isinstance(run.result, dict) else {}
    # Drills the game day never started are in its result only.
    started = {d["position"] for d in drills}
    for entry in result.get("drills") or []:
        if isinstance(entry, dict) and entry.get("position") not in started:
            drills.append({**entry, "document": None, "observation": None})
    drills.sort(key=lambda d: d["position"] or 0)
    return {
        "gameday": run.gameday.name,
        "run": {
            "id": run.id,
            "version": run.version.number,
            "state": run.state,
            "reason": run.reason,
            "source": run.source,
            "created_at": _iso(run.created_at),
            "finished_at": _iso(run.finished_at),
        },
        "started_by": _person(run.started_by, run.created_at),
        "result": result,
        "drills": drills,
        "action_items": [
            {"text": a.text, "owner": a.owner.get_username(), "done": a.done}
            for a in run.action_items.select_related("owner")
        ],
    }
