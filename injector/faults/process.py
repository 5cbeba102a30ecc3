"""process.kill and process.pause: signals to processes matched by name, pid file or cgroup.

Matching (``injector.processes``) is confined to the agent's network namespace when it has
one, and never returns pid 1, kernel threads, the agent or its ancestors. Every process is
recorded as (pid, start time) in the workdir *before* it is signalled, so a janitor in
another process resumes exactly the processes that were paused, and a recycled pid is never
signalled.

A kill is instantaneous: once sent it cannot be undone, so ``is_active`` is False and revert
only forgets. A pause is SIGSTOP until revert sends SIGCONT.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from injector import processes
from injector.faults.fault import Fault, FaultError
from injector.processes import Match, ProcessRef
from injector.protocol import FaultSpec

KILL_SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM}
MAX_COUNT = 1000
RECORD = "processes.json"
RESUME_WAIT = 2.0
STOP_WAIT = 2.0


def _parse_match(kind: str, params: dict[str, Any]) -> Match:
    try:
        return Match.parse(params.get("match"))
    except ValueError as exc:
        raise FaultError(f"{kind}: {exc}", True) from None


def _signal(ref: ProcessRef, signum: int) -> bool:
    """Signal ref if it is still that very process; True when sent."""
    if not ref.alive():
        return False
    try:
        os.kill(ref.pid, signum)
    except ProcessLookupError:
        return False
    return True


class _ProcessFault(Fault):
    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        self.match = _parse_match(self.kind, spec.params)

    @property
    def record(self) -> Path:
        return self.workdir / RECORD

    def recorded(self) -> list[ProcessRef] | None:
        return processes.load(self.record)

    def _select(self) -> list[ProcessRef]:
        found = processes.find(self.match, self.netns)
        if not found:
            where = f" in network namespace {self.netns}" if self.netns else ""
            raise FaultError(f"{self.kind}: no process matches {self.match.describe()}{where}")
        return found

    def _plan(self, **extra: Any) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fault_id": self.fault_id,
            "mechanism": "signal",
            "netns": self.netns,
            "match": self.match.describe(),
            **extra,
            "artifacts": [f"record of signalled processes ({self.record})"],
        }


class ProcessKillFault(_ProcessFault):
    kind = "process.kill"

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        unknown = set(spec.params) - {"host", "match", "signal", "count"}
        if unknown:
            raise FaultError(f"{self.kind}: unknown params {sorted(unknown)}", True)
        name = spec.params.get("signal", "SIGKILL")
        if name not in KILL_SIGNALS:
            raise FaultError(f"{self.kind}: signal must be one of {sorted(KILL_SIGNALS)}", True)
        count = spec.params.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
            raise FaultError(f"{self.kind}: count must be an integer 1..{MAX_COUNT}", True)
        self.signal_name: str = name
        self.count: int = count

    def plan(self) -> dict[str, Any]:
        return self._plan(signal=self.signal_name, count=self.count, order="oldest first")

    def apply(self) -> None:
        refs = self.recorded()
        if refs is None:
            # The oldest are the long-running services; fresh ones are often their helpers.
            refs = self._select()[: self.count]
            processes.save(self.record, refs)
        # Re-running after a crash re-sends only to the recorded processes still alive.
        for ref in refs:
            _signal(ref, KILL_SIGNALS[self.signal_name])

    def revert(self) -> None:
        """A kill cannot be undone; recovery is the system's job (and what the drill measures)."""

    def is_active(self) -> bool:
        return False


class ProcessPauseFault(_ProcessFault):
    kind = "process.pause"

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        unknown = set(spec.params) - {"host", "match"}
        if unknown:
            raise FaultError(f"{self.kind}: unknown params {sorted(unknown)}", True)

    def plan(self) -> dict[str, Any]:
        return self._plan(signal="SIGSTOP", revert_signal="SIGCONT")

    def apply(self) -> None:
        refs = self.recorded()
        if refs is None:
            refs = self._select()
            processes.save(self.record, refs)
        for ref in refs:
            _signal(ref, signal.SIGSTOP)
        # Delivery is asynchronous: return once every recorded process that lives is stopped.
        deadline = time.monotonic() + STOP_WAIT
        while time.monotonic() < deadline and self._running(refs):
            time.sleep(0.01)
        running = self._running(refs)
        if running:
            pids = ", ".join(str(ref.pid) for ref in running)
            raise FaultError(f"{self.kind}: processes {pids} did not stop on SIGSTOP")

    def revert(self) -> None:
        refs = self.recorded()
        if refs is None:
            return
        for ref in refs:
            _signal(ref, signal.SIGCONT)
        deadline = time.monotonic() + RESUME_WAIT
        while self._stopped(refs) and time.monotonic() < deadline:
            time.sleep(0.02)
        still = self._stopped(refs)
        if still:
            pids = ", ".join(str(ref.pid) for ref in still)
            raise FaultError(f"{self.kind}: processes {pids} are still stopped after SIGCONT")
        self.record.unlink(missing_ok=True)

    def is_active(self) -> bool:
        return bool(self._stopped(self.recorded() or []))

    @staticmethod
    def _running(refs: list[ProcessRef]) -> list[ProcessRef]:
        return [ref for ref in refs if ref.state() not in (None, "T")]

    @staticmethod
    def _stopped(refs: list[ProcessRef]) -> list[ProcessRef]:
        return [ref for ref in refs if ref.state() == "T"]
