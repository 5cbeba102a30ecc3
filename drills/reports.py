"""The run document: one plain dict built from the stored event stream (JSON report input)."""

from __future__ import annotations

from typing import Any

from drills.models import DrillRun


def run_document(run: DrillRun) -> dict[str, Any]:
    version = run.version
    return {
        "format": "drillhall.run/v1",
        "run": {
            "id": run.id,
            "playbook": version.playbook.name,
            "version": version.number,
            "content_hash": version.content_hash,
            "state": run.state,
            "source": run.source,
            "created_at": run.created_at.isoformat(),
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "abort_reason": run.abort_reason,
        },
        "result": run.result,
        "playbook": version.content,
        "events": [e.as_message() for e in run.events.order_by("seq")],
    }
