"""The run document: one plain dict built from the stored event stream (JSON report input)."""

from __future__ import annotations

from typing import Any

from drills.playbook.redaction import redact_data
from drills.web.models import Approval, DrillRun


def run_document(run: DrillRun) -> dict[str, Any]:
    version = run.version
    approval = Approval.objects.filter(run_id=run.id).first()
    events = [e.as_message() for e in run.events.order_by("seq")]
    # The stream's result event, not the row: the orchestrator writes the row just after the
    # event, so a reader that saw the event (the CLI) could otherwise export an empty result.
    streamed = [e["data"] for e in events if e["type"] == "result"]
    document = {
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
        # Who approved the faults on protected hosts, and exactly what (None: not needed, or
        # not given).
        "approval": approval.to_dict() if approval is not None else None,
        "result": streamed[-1] if streamed else run.result,
        # The plan resolved when the run was created: what the run did, where.
        "plan": run.plan,
        "playbook": version.content,
        "events": events,
    }
    # Versions and plans stored before secrets were named may hold a password: never shown.
    return redact_data(document)
