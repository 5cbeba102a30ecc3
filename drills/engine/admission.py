"""Admission: which waiting run may start now, and why the others wait.

Two rules, checked when an orchestrator is about to claim a run:

- at most ``limit`` runs are in progress at once (DRILLHALL_MAX_RUNS); beyond it, runs wait in
  the order they were created, and each knows how many runs are ahead of it;
- two runs whose faults touch the same host and port never run at once: the later one waits
  until the earlier has ended. A fault that names no port (a partition of the whole host, IO,
  process and stress faults) touches every port of its host.

Serializing instead of refusing: a game day that lists two drills on one service runs them one
after the other, which is what its author meant. Pure: the web side reads the rows, takes the
admission lock and calls ``decide``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# (host, port); port None means every port of the host.
Touch = tuple[str, int | None]


@dataclass(frozen=True)
class Footprint:
    """Where a run's faults land: host and port pairs."""

    touches: frozenset[Touch]

    @classmethod
    def of_plan(cls, plan: dict[str, Any] | None) -> Footprint:
        """From a plan as stored with a run (``Plan.to_dict``); a run with no plan touches
        nothing (it ends at once)."""
        touches: set[Touch] = set()
        for fault in _faults((plan or {}).get("steps") or []):
            host = str(fault.get("host") or "")
            ports = (fault.get("params") or {}).get("ports")
            if isinstance(ports, list) and ports:
                touches.update((host, int(p)) for p in ports if isinstance(p, int))
            else:
                touches.add((host, None))
        return cls(frozenset(touches))

    def overlap(self, other: Footprint) -> Touch | None:
        """One place both touch, or None. A whole host overlaps any port of it."""
        for host, port in sorted(self.touches, key=_order):
            for other_host, other_port in sorted(other.touches, key=_order):
                if host == other_host and (
                    port is None or other_port is None or port == other_port
                ):
                    return (host, port if port is not None else other_port)
        return None


@dataclass(frozen=True)
class Candidate:
    """A run as admission sees it: its id (what people read) and its footprint."""

    run_id: int
    footprint: Footprint


@dataclass(frozen=True)
class Admission:
    admitted: bool
    ahead: int = 0  # runs that start before this one
    reason: str = ""  # a sentence: why it waits

    @property
    def phrase(self) -> str:
        """ "queued, 3 ahead: …" as the CLI, the run page and the report say it."""
        if self.admitted:
            return "admitted"
        return f"queued, {self.ahead} ahead: {self.reason}"


def decide(
    me: Candidate, active: Sequence[Candidate], before: Sequence[Candidate], limit: int
) -> Admission:
    """May ``me`` start, with ``active`` runs in progress and ``before`` waiting runs that were
    created before it (oldest first)?

    A waiting run that must wait for a conflict does not hold up the runs behind it (no
    head-of-line blocking); one that would start if a slot were free does."""
    ahead = _ahead(before, active)
    for other in active:
        touch = me.footprint.overlap(other.footprint)
        if touch is not None:
            return Admission(False, ahead, _conflict(other, touch, "is in progress"))
    for other in before:
        touch = me.footprint.overlap(other.footprint)
        if touch is not None:
            return Admission(False, ahead, _conflict(other, touch, "was queued first"))
    if len(active) + ahead >= limit:
        return Admission(
            False,
            ahead,
            f"{_runs_in_progress(len(active))} and at most {limit} run at once "
            "(DRILLHALL_MAX_RUNS)",
        )
    return Admission(True, ahead)


def admit_in_order(
    waiting: Sequence[Candidate], active: Sequence[Candidate], limit: int
) -> list[tuple[Candidate, Admission]]:
    """Every waiting run's decision (oldest first), as if those admitted before it had started:
    what an ending run uses to hand the next ones to the orchestrator."""
    running = list(active)
    decisions: list[tuple[Candidate, Admission]] = []
    for run in waiting:
        before = [c for c, d in decisions if not d.admitted]
        decision = decide(run, running, before, limit)
        decisions.append((run, decision))
        if decision.admitted:
            running.append(run)
    return decisions


def _ahead(before: Sequence[Candidate], active: Sequence[Candidate]) -> int:
    """The earlier waiting runs that will take a slot before this one: those not held back by
    a conflict of their own with a run in progress."""
    return sum(1 for run in before if not any(run.footprint.overlap(a.footprint) for a in active))


def _runs_in_progress(count: int) -> str:
    return "1 run is in progress" if count == 1 else f"{count} runs are in progress"


def _conflict(other: Candidate, touch: Touch, what: str) -> str:
    host, port = touch
    where = f"{host} port {port}" if port is not None else f"every port of {host}"
    return (
        f"run {other.run_id}, which {what}, faults {where} too, and runs that fault the same "
        "host and port run one after the other"
    )


def _faults(steps: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for step in steps:
        if not isinstance(step, dict):
            continue
        for fault in step.get("faults") or []:
            if isinstance(fault, dict):
                yield fault
        yield from _faults(step.get("children") or [])


def _order(touch: Touch) -> tuple[str, int]:
    return (touch[0], -1 if touch[1] is None else touch[1])
