"""One line per run event for the terminal: what `drillhall run` prints as the run goes."""

from __future__ import annotations

from typing import Any


def describe(type: str, d: dict[str, Any]) -> str:
    if type == "state":
        return f"state: {str(d['state']).replace('_', ' ')}"
    if type == "approval":
        return f"approval: {d.get('message') or d.get('decision')}"
    if type == "step_started":
        where = d.get("path", d.get("index", d.get("step")))
        kind = d.get("kind", "")
        if kind == "fault":
            hosts = ", ".join(f.get("host", "?") for f in d.get("faults", [])) or d.get("host")
            kind = f"{d.get('fault') or (d.get('faults') or [{}])[0].get('kind')} on {hosts}"
        return f"step {where} ({d.get('name', '')}): {kind} for {d.get('duration', 0):g}s"
    if type == "rpo":
        span = f" over {d['span_seconds']:g}s" if d.get("lost") else ""
        error = f" ({d['error']})" if d.get("error") else ""
        return f"RPO: {d['lost']} of {d['acknowledged']} acknowledged writes lost{span}{error}"
    if type == "paused":
        return f"paused at step {d.get('path')}: resume it on the run page"
    if type == "fault_applied":
        return f"fault applied: {d['kind']} on {d['host']} ({d['fault_id']}, {d.get('mechanism')})"
    if type in ("fault_reverted", "fault_unconfirmed"):
        return f"fault {d['state']}: {d['fault_id']} on {d['host']}"
    if type == "silence":
        return f"silence {d.get('state')}: {d.get('message') or d.get('silence_id')}"
    if type == "verdict":
        value = "" if d.get("value") is None else f" (value {d['value']:.4g})"
        return f"SLA {d['sla']!r}: {d['state']}{value}"
    if type == "fault_ended_early":
        return f"fault ended early: {d['message']}"
    if type in ("abort", "lease_warning"):
        return f"{type}: {d.get('reason') or d.get('message')}"
    if type == "error":
        return f"error: {d['message']}"
    if type == "result":
        rto = "" if d.get("rto") is None else f", RTO {d['rto']:.2f}s"
        return f"result: {d['state']}{rto}"
    return ""
