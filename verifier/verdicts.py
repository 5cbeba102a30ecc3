"""Live SLA verdicts: which SLAs hold, which are breached, and when the system recovered.

The tracker is fed phase boundaries and a clock by the engine; it reads samples from the
SampleStore and reports only *changes* of verdict, so listeners see one event per transition.

* ``before``, ``fault`` and ``always`` SLAs are judged once their phase has lasted as long as
  the longest window of the expression (or once at the end of a shorter phase). A breach is
  sticky: it stays a breach for the rest of the run, through later entries of the phase.
* ``recovery`` SLAs are judged on whatever the window holds since recovery began; they may
  breach and hold again, and pass only if they held for ``settle_seconds`` at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from verifier.assertions.evaluate import Outcome, evaluate
from verifier.assertions.parser import Expr
from verifier.phases import Phase
from verifier.windows import SampleStore


class VerdictState(StrEnum):
    PENDING = "pending"
    HOLDING = "holding"
    BREACHED = "breached"
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class SlaSpec:
    name: str
    expr: Expr
    during: Phase
    on_breach: str = "record"


@dataclass(frozen=True)
class VerdictChange:
    sla: str
    state: VerdictState
    value: float | None
    t: float
    on_breach: str
    reason: str


@dataclass
class _Verdict:
    spec: SlaSpec
    state: VerdictState = VerdictState.PENDING
    value: float | None = None
    had_data: bool = False
    holding_since: float | None = None  # recovery only: start of the current holding streak

    @property
    def sticky(self) -> bool:
        return self.spec.during is not Phase.RECOVERY


class SlaTracker:
    def __init__(
        self, slas: list[SlaSpec], store: SampleStore, settle_seconds: float = 5.0
    ) -> None:
        self._verdicts = [_Verdict(spec) for spec in slas]
        self._store = store
        self._settle = settle_seconds
        self._active: dict[Phase, float] = {}  # phase -> time it (last) started
        self._always_started = False

    # -- phase boundaries -------------------------------------------------------------------

    def enter_phase(self, phase: Phase, t: float) -> list[VerdictChange]:
        if not self._always_started:
            self._always_started = True
            self._active[Phase.ALWAYS] = t
        if phase is Phase.ALWAYS:
            return []
        self._active[phase] = t
        if phase is Phase.RECOVERY:
            for verdict in self._of(phase):
                verdict.holding_since = None
        return []

    def exit_phase(self, phase: Phase, t: float) -> list[VerdictChange]:
        if phase not in self._active:
            return []
        changes = self._evaluate_phase(phase, t, force=True)
        for verdict in self._of(phase):
            change = self._judge(verdict, t)
            if change is not None:
                changes.append(change)
        del self._active[phase]
        return changes

    # -- the clock ---------------------------------------------------------------------------

    def evaluate(self, now: float) -> list[VerdictChange]:
        changes: list[VerdictChange] = []
        for phase in list(self._active):
            changes.extend(self._evaluate_phase(phase, now, force=False))
        return changes

    def recovered_since(self, now: float) -> float | None:
        """Start of the streak in which all recovery SLAs hold, once it lasted the settle time."""
        recovery = self._of(Phase.RECOVERY)
        if not recovery:
            return None
        starts = [v.holding_since for v in recovery]
        if any(start is None for start in starts):
            return None
        since = max(start for start in starts if start is not None)
        return since if now - since >= self._settle else None

    def finalize(self, now: float) -> dict[str, VerdictState]:
        """Close every open phase and return the final verdicts (each PASSED or FAILED)."""
        for phase in list(self._active):
            self.exit_phase(phase, now)
        for verdict in self._verdicts:
            if verdict.state is not VerdictState.PASSED:
                verdict.state = VerdictState.FAILED
        return {verdict.spec.name: verdict.state for verdict in self._verdicts}

    def states(self) -> dict[str, VerdictState]:
        return {verdict.spec.name: verdict.state for verdict in self._verdicts}

    # -- internals ---------------------------------------------------------------------------

    def _of(self, phase: Phase) -> list[_Verdict]:
        return [verdict for verdict in self._verdicts if verdict.spec.during is phase]

    def _evaluate_phase(self, phase: Phase, now: float, force: bool) -> list[VerdictChange]:
        start = self._active[phase]
        changes: list[VerdictChange] = []
        for verdict in self._of(phase):
            if verdict.state is VerdictState.FAILED:
                continue
            if verdict.sticky and verdict.state is VerdictState.BREACHED:
                continue
            # Judging a window-based SLA on a fraction of its window would be noise.
            if verdict.sticky and not force and now - start < verdict.spec.expr.max_window():
                continue
            outcome = evaluate(verdict.spec.expr, self._store, now=now, since=start)
            change = self._apply(verdict, outcome, now)
            if change is not None:
                changes.append(change)
        return changes

    def _apply(self, verdict: _Verdict, outcome: Outcome, now: float) -> VerdictChange | None:
        verdict.value = outcome.value
        if outcome.holds is None:
            return None
        verdict.had_data = True
        if outcome.holds:
            if verdict.holding_since is None:
                verdict.holding_since = now
            state = VerdictState.HOLDING
        else:
            verdict.holding_since = None
            state = VerdictState.BREACHED
        if state is verdict.state:
            return None
        shown = "unknown" if outcome.value is None else f"{outcome.value:g}"
        verb = "holds" if outcome.holds else "is breached"
        return self._change(verdict, state, now, f"{verdict.spec.expr} {verb} (value {shown})")

    def _judge(self, verdict: _Verdict, t: float) -> VerdictChange | None:
        """The end-of-phase verdict: PASSED or FAILED, or a breach left as it is."""
        phase = verdict.spec.during.value
        if verdict.state is VerdictState.HOLDING:
            if verdict.sticky:
                return self._change(
                    verdict, VerdictState.PASSED, t, f"held through the {phase} phase"
                )
            held = t - (verdict.holding_since if verdict.holding_since is not None else t)
            if held >= self._settle:
                return self._change(
                    verdict, VerdictState.PASSED, t, f"held for {held:.1f}s at the end of recovery"
                )
            return self._change(
                verdict,
                VerdictState.FAILED,
                t,
                f"held for only {held:.1f}s of the {self._settle:g}s settle time",
            )
        if verdict.state is VerdictState.PENDING:
            return self._change(verdict, VerdictState.FAILED, t, "no data")
        if verdict.state is VerdictState.BREACHED and not verdict.sticky:
            return self._change(
                verdict, VerdictState.FAILED, t, "still breached at the end of recovery"
            )
        return None

    def _change(
        self, verdict: _Verdict, state: VerdictState, t: float, reason: str
    ) -> VerdictChange:
        verdict.state = state
        return VerdictChange(
            sla=verdict.spec.name,
            state=state,
            value=verdict.value,
            t=t,
            on_breach=verdict.spec.on_breach,
            reason=reason,
        )
