"""The SLA phases of a run, opened and closed as its steps go, and the verdicts they yield.

* ``before``: from the start of the baseline to the first fault;
* ``fault``: while any fault is on (faults of a parallel group overlap: it lasts while one is);
* ``recovery``: from the start of the first fault to the end of the run: a failover recovers
  while the fault is still on, and RTO counts from there;
* ``always``: the whole run.

The tracker (verifier/verdicts.py) judges inside the phases; this module says when they are,
turns every verdict change into a ``verdict`` event, and keeps the breach of an
``on_breach: abort`` SLA as ``abort_reason`` for the run loop to act on.
"""

from __future__ import annotations

from drills.engine.events import Emit, EventType
from verifier.phases import Phase
from verifier.verdicts import SlaTracker, VerdictChange, VerdictState


class SlaPhases:
    def __init__(self, tracker: SlaTracker, emit: Emit, has_recovery_slas: bool) -> None:
        self.tracker = tracker
        self.has_recovery_slas = has_recovery_slas
        self.abort_reason: str | None = None  # set by a breach that must abort the run
        self.fault_start: float | None = None  # start of the first fault: RTO counts from here
        self._emit = emit
        self._faults_on = 0  # open fault windows; the FAULT phase lasts while any is open
        self._in_baseline = True

    def begin(self, now: float) -> None:
        """The baseline starts: ``always`` and ``before`` open."""
        self.tracker.enter_phase(Phase.ALWAYS, now)
        self._changes(self.tracker.enter_phase(Phase.BEFORE, now))

    def end_baseline(self, now: float) -> None:
        if self._in_baseline:
            self._changes(self.tracker.exit_phase(Phase.BEFORE, now))
            self._in_baseline = False

    def fault_on(self, now: float) -> None:
        if self.fault_start is None:
            self.fault_start = now
            # Recovery is judged from the start of the disruption: a failover recovers while
            # the fault is still on, and RTO counts from here.
            self._changes(self.tracker.enter_phase(Phase.RECOVERY, now))
        if self._faults_on == 0:
            self._changes(self.tracker.enter_phase(Phase.FAULT, now))
        self._faults_on += 1

    def fault_off(self, now: float) -> None:
        self._faults_on -= 1
        if self._faults_on == 0:
            self._changes(self.tracker.exit_phase(Phase.FAULT, now))

    def evaluate(self, now: float) -> None:
        self._changes(self.tracker.evaluate(now))

    def start_recovery(self, now: float) -> float:
        """Recovery is watched from here on; returns when RTO counts from."""
        if self.fault_start is None:  # a drill without faults: recovery is judged from here
            self._changes(self.tracker.enter_phase(Phase.RECOVERY, now))
            return now
        return self.fault_start

    def recovered_since(self, now: float) -> float | None:
        return self.tracker.recovered_since(now)

    def finish(self, now: float) -> dict[str, str]:
        """The run is over: the last phases close and every SLA gets its final verdict."""
        self._changes(self.tracker.exit_phase(Phase.RECOVERY, now))
        self._changes(self.tracker.exit_phase(Phase.ALWAYS, now))
        return self.finalize(now)

    def finalize(self, now: float) -> dict[str, str]:
        """Final verdicts, closing whatever phase is still open (an aborted run)."""
        return {k: v.value for k, v in self.tracker.finalize(now).items()}

    def not_judged(self, cutoff: float, why: str) -> dict[str, str]:
        """Final verdicts of a drill that broke down at ``cutoff``: what had passed or
        breached by then stays, the rest is "not judged" (``why`` says why)."""
        self._changes(self.tracker.finalize_at(cutoff, f"not judged: {why}"))
        return {k: v.value for k, v in self.tracker.states().items()}

    def _changes(self, changes: list[VerdictChange]) -> None:
        for change in changes:
            self._emit(
                EventType.VERDICT,
                {
                    "sla": change.sla,
                    "state": change.state.value,
                    "value": change.value,
                    "reason": change.reason,
                    "on_breach": change.on_breach,
                    "final": change.final,
                },
            )
            if (
                change.state is VerdictState.BREACHED
                and change.on_breach == "abort"
                and self.abort_reason is None
            ):
                self.abort_reason = f"SLA {change.sla!r} breached (on_breach: abort)"
