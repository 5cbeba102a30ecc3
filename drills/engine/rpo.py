"""RPO: acknowledged canary writes that cannot be read back once the system has recovered.

Measured once, at the end of a run, after the probes stopped and their last samples were
written, so the run's events show exactly the writes RPO counts (who reads the stream can
recount it). The result is a plain dict: it is the ``rpo`` event's payload and the outcome's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drills.playbook.model import Objectives
from verifier.probes.canary import Ack, Canary
from verifier.probes.probe import Probe


def measure_rpo(probes: Mapping[str, Probe]) -> dict[str, Any] | None:
    """Acknowledged canary writes that cannot be read back now; None without a canary."""
    canaries = {n: p for n, p in probes.items() if isinstance(p, Canary)}
    if not canaries:
        return None
    lost: list[Ack] = []
    acknowledged = 0
    errors = []
    for name, canary in sorted(canaries.items()):
        acknowledged += len(canary.acknowledged())
        try:
            lost.extend(canary.verify())
        except Exception as exc:  # "cannot tell" must never read as "nothing lost"
            errors.append(f"{name}: {exc}")
    times = sorted(ack.t for ack in lost)
    return {
        "acknowledged": acknowledged,
        "lost": len(lost),
        "span_seconds": round(times[-1] - times[0], 3) if times else 0.0,
        "first_lost_at": times[0] if times else None,
        "error": "; ".join(errors) or None,
    }


def rpo_problems(rpo: dict[str, Any], objectives: Objectives) -> list[str]:
    """Why the measured RPO misses the playbook's objective (empty when it does not)."""
    if objectives.rpo is None:
        return []
    if rpo["error"]:
        return [f"RPO could not be measured: {rpo['error']}"]
    writes, seconds = objectives.rpo_writes, objectives.rpo_seconds
    if writes is not None and rpo["lost"] > writes:
        return [f"RPO {rpo['lost']} acknowledged writes lost, objective {writes}"]
    if seconds is not None and rpo["span_seconds"] > seconds:
        return [f"RPO {rpo['span_seconds']:.1f}s of writes lost, objective {seconds:g}s"]
    return []
