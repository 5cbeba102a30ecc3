"""Stored runs for the report's tests: documents exported from real lab runs
(tests/fixtures/reports/), and a small hand-made one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"


def stored(name: str) -> dict[str, Any]:
    """``redis-failover-run``: a passed lab run of examples/redis-failover.yaml in a game day;
    ``aborted-partition-run``: a partition aborted from the command line."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def stored_gameday() -> dict[str, Any]:
    """A game day's run whose two drills are the two stored runs, with an observation and
    action items."""
    doc = stored("team-day-gameday")
    for drill in doc["drills"]:
        drill["document"] = stored(drill.pop("document_file").removesuffix(".json"))
    return doc


def small() -> dict[str, Any]:
    events = [
        {"seq": 1, "type": "state", "t": 100.0, "data": {"state": "baseline"}},
        {"seq": 2, "type": "sample", "t": 100.5,
         "data": {"probe": "p", "ok": True, "latency_ms": 2.0}},
        {"seq": 3, "type": "fault_applied", "t": 101.0,
         "data": {"fault_id": "r1-s2-a1", "kind": "network.partition", "host": "db1",
                  "mechanism": "nftables", "params": {"peers": []}}},
        {"seq": 4, "type": "sample", "t": 101.5,
         "data": {"probe": "p", "ok": False, "latency_ms": 500.0}},
        {"seq": 5, "type": "fault_reverted", "t": 103.0,
         "data": {"fault_id": "r1-s2-a1", "host": "db1", "state": "reverted"}},
        {"seq": 6, "type": "verdict", "t": 103.5,
         "data": {"sla": "<b>x</b>", "state": "passed", "value": 0.0, "reason": "held"}},
    ]  # fmt: skip
    return {
        "run": {
            "id": 1,
            "playbook": "demo",
            "version": 2,
            "state": "passed",
            "started_at": "2026-01-01T10:00:00+00:00",
            "finished_at": "2026-01-01T10:00:04+00:00",
        },
        "result": {
            "state": "passed",
            "verdicts": {"<b>x</b>": "passed"},
            "rto": 2.5,
            "rto_objective": 30.0,
            "reason": "every SLA held",
        },
        "playbook": "apiVersion: drillhall/v1",
        "events": events,
    }
