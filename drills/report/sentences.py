"""One sentence per run event: what the report's timeline, the CLI and the live page all say.

The one place an event becomes words, so the three never disagree. Every field is read with a
default: events stored by older versions lack some, and a forged or partial event must still
make a sentence, never a traceback or a dict repr.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# A library's message may end in the repr of one of its objects (redis-py's "No master found
# for 'shop' : <redis.client.Redis(<ConnectionPool(...)>)>"): the words before it are the news.
_OBJECT_REPR = re.compile(r"\s*:?\s*<[A-Za-z_][\w.]*\(")

Data = dict[str, Any]


def _s(value: Any, default: str = "?") -> str:
    if value is None or value == "":
        return default
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _num(value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _s(value)
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _seconds(value: Any) -> str:
    return f"{_num(value)} s" if isinstance(value, int | float) else "an unknown time"


def _state(d: Data) -> str:
    state = _s(d.get("state"), "unknown").replace("_", " ")
    previous = d.get("previous")
    since = f" (after {str(previous).replace('_', ' ')})" if previous else ""
    return f"state: {state}{since}"


def _approval(d: Data) -> str:
    return f"approval: {_s(d.get('message') or d.get('decision'), 'changed')}"


def _step_started(d: Data) -> str:
    where = _s(d.get("path", d.get("step")))
    name = f" “{d['name']}”" if d.get("name") else ""
    kind = str(d.get("kind") or "")
    duration = d.get("duration")
    length = f" for {_seconds(duration)}" if isinstance(duration, int | float) else ""
    if d.get("fault"):
        hosts = d.get("hosts") or [d.get("host")]
        on = ", ".join(_s(h) for h in hosts)
        return f"step {where}{name} started: {d['fault']} on {on}{length}"
    if kind == "wait":
        return f"step {where}{name} started: wait{length}"
    what = f": {kind}" if kind else ""
    return f"step {where}{name} started{what}{length}"


def _step_finished(d: Data) -> str:
    return f"step {_s(d.get('path', d.get('step')))} finished"


def _fault_applied(d: Data) -> str:
    mechanism = f" with {d['mechanism']}" if d.get("mechanism") else ""
    return (
        f"fault applied: {_s(d.get('kind'))} on {_s(d.get('host'))}{mechanism} "
        f"(fault {_s(d.get('fault_id'))})"
    )


def _fault_reverted(d: Data) -> str:
    return f"fault {_s(d.get('fault_id'))} on {_s(d.get('host'))} reverted"


def _fault_unconfirmed(d: Data) -> str:
    why = f": {d['message']}" if d.get("message") else ""
    return (
        f"the revert of fault {_s(d.get('fault_id'))} on {_s(d.get('host'))} is not confirmed{why}"
    )


def _lease_warning(d: Data) -> str:
    return f"fault {_s(d.get('fault_id'))} on {_s(d.get('host'))}: {_s(d.get('message'), '')}"


def _silence(d: Data) -> str:
    if d.get("message"):
        return str(d["message"])
    return f"silence {_s(d.get('silence_id'))} on {_s(d.get('host'))} {_s(d.get('state'))}"


def _fault_ended_early(d: Data) -> str:
    if d.get("message"):
        return f"fault ended early: {d['message']}"
    return f"fault {_s(d.get('fault_id'))} on {_s(d.get('host'))} ended before its step did"


def collector_phrase(c: Data) -> str:
    source = c.get("source")
    how = {"ebpf": "eBPF", "proc": "from /proc"}.get(str(source), "not running")
    return f"{_s(c.get('name'))} ({how})"


def _collectors(d: Data) -> str:
    collectors = d.get("collectors") or []
    parts = [collector_phrase(c) for c in collectors if isinstance(c, dict)]
    listed = ", ".join(parts) if parts else "none"
    return f"kernel collectors on {_s(d.get('host'))}: {listed}"


def _no_effect(d: Data) -> str:
    return f"fault {_s(d.get('fault_id'))}: {_s(d.get('message'), 'no effect seen')}"


def _sample(d: Data) -> str:
    probe = _s(d.get("probe"))
    if probe.startswith("kernel."):
        source = " (from /proc)" if d.get("source") == "proc" else ""
        metric = probe.removeprefix("kernel.")
        return f"{metric} on {_s(d.get('host'))}: {_num(d.get('value'))}{source}"
    parts = [f"{probe} {'ok' if d.get('ok') else 'failed'}"]
    if isinstance(d.get("seq"), int):
        parts.append(f"write #{d['seq']}")
    if isinstance(d.get("latency_ms"), int | float):
        parts.append(f"{d['latency_ms']:.1f} ms")
    if d.get("status") is not None:
        parts.append(f"status {d['status']}")
    text = ", ".join(parts)
    return f"{text} ({error_text(d['error'])})" if d.get("error") else text


def error_text(error: Any) -> str:
    """An error message without the object reprs some libraries append."""
    return _OBJECT_REPR.split(str(error), maxsplit=1)[0].strip() or "an error"


def _verdict(d: Data) -> str:
    value = d.get("value")
    shown = f" at {_num(value, 4)}" if isinstance(value, int | float) else ""
    reason = f": {d['reason']}" if d.get("reason") else ""
    final = " (final)" if d.get("final") else ""
    return f"SLA “{_s(d.get('sla'))}” {_s(d.get('state'))}{final}{shown}{reason}"


def _queued(d: Data) -> str:
    return f"queued, {_s(d.get('ahead'), '0')} ahead: {_s(d.get('reason'), 'no reason given')}"


def _abort(d: Data) -> str:
    return f"aborted: {_s(d.get('reason'), 'no reason given')}"


def _rpo(d: Data) -> str:
    return rpo_sentence(d)


def rpo_sentence(d: Data | None) -> str:
    if not d:
        return "not measured (no canary probe)"
    lost, acknowledged = d.get("lost"), d.get("acknowledged")
    span = f" over {_seconds(d.get('span_seconds'))}" if lost else ""
    error = f" ({d['error']})" if d.get("error") else ""
    return f"{_s(lost, '0')} of {_s(acknowledged, '0')} acknowledged writes lost{span}{error}"


def _paused(d: Data) -> str:
    name = f" “{d['name']}”" if d.get("name") else ""
    return f"paused at step {_s(d.get('path', d.get('step')))}{name}: resume it on the run page"


def _resumed(d: Data) -> str:
    return f"resumed at step {_s(d.get('path', d.get('step')))}"


def _error(d: Data) -> str:
    return f"error: {_s(d.get('message'), 'no message')}"


def _result(d: Data) -> str:
    rto = f", RTO {_seconds(d.get('rto'))}" if isinstance(d.get("rto"), int | float) else ""
    reason = f": {d['reason']}" if d.get("reason") else ""
    return f"result {_s(d.get('state'))}{rto}{reason}"


_SENTENCES: dict[str, Callable[[Data], str]] = {
    "state": _state,
    "queued": _queued,
    "approval": _approval,
    "step_started": _step_started,
    "step_finished": _step_finished,
    "fault_applied": _fault_applied,
    "fault_reverted": _fault_reverted,
    "fault_unconfirmed": _fault_unconfirmed,
    "lease_warning": _lease_warning,
    "silence": _silence,
    "fault_ended_early": _fault_ended_early,
    "collectors": _collectors,
    "no_effect": _no_effect,
    "sample": _sample,
    "verdict": _verdict,
    "abort": _abort,
    "rpo": _rpo,
    "paused": _paused,
    "resumed": _resumed,
    "error": _error,
    "result": _result,
}


def utc(iso: str | None) -> str:
    """A stored ISO 8601 time as people read it: "2026-12-02 07:56:33 UTC"."""
    if not iso:
        return "not recorded"
    return iso.replace("T", " ").split(".")[0].split("+")[0] + " UTC"


def describe(type: str, data: Any) -> str:
    """The sentence for one event; an unknown type still gets one, never a repr."""
    d = data if isinstance(data, dict) else {}
    sentence = _SENTENCES.get(str(type))
    if sentence is None:
        return f"{str(type).replace('_', ' ')} event"
    try:
        return sentence(d)
    except (TypeError, ValueError, KeyError, AttributeError):  # a forged event: still words
        return f"{str(type).replace('_', ' ')} event"
