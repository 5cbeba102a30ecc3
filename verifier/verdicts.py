"""Live SLA verdicts: which SLAs hold, which are breached, and when the system recovered.

The tracker is fed phase boundaries and a clock by the engine; it reads samples from the
SampleStore and reports only *changes* of verdict, so listeners see one event per transition.

* ``before``, ``fault`` and ``always`` SLAs are judged once their phase has lasted as long as
  the longest window of the expression (or once at the end of a shorter phase). A breach is
  sticky: it stays a breach for the rest of the run, through later entries of the phase.
* ``recovery`` SLAs are judged on whatever the window holds since recovery began; they may
  breach and hold again, and pass only if they held for ``settle_seconds`` at the end.
* ``hold_for`` (the playbook's ``for``): the expression must have been true continuously for
  that long before the verdict becomes HOLDING; a breach is reported at once. A phase that
  ends before the streak is long enough fails the SLA ("held for only ...").
* ``baseline.FUNC(...)`` values are computed once, over every sample of the ``before`` phase,
  when it ends; until then comparisons with them are unknown and the SLA stays PENDING.
* ``finalize_at(cutoff)``: when the drill itself broke down at ``cutoff`` (a fault ended early
  for the tool's own reasons), what was seen after it says nothing about the system under
  test. Every SLA keeps the verdict it had reached by then (a pass, or a breach that is
  final), and every other one is NOT_JUDGED: never "failed" for the tool's own failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from verifier.assertions.evaluate import BaselineKey, Outcome, baseline_key, call_value, evaluate
from verifier.assertions.syntax import Expr
from verifier.phases import Phase
from verifier.windows import SampleStore


class VerdictState(StrEnum):
    PENDING = "pending"
    HOLDING = "holding"
    BREACHED = "breached"
    PASSED = "passed"
    FAILED = "failed"
    NOT_JUDGED = "not judged"  # the drill broke down before the SLA could be judged


@dataclass(frozen=True)
class SlaSpec:
    name: str
    expr: Expr
    during: Phase
    on_breach: str = "record"
    hold_for: float | None = None  # seconds the expression must hold before HOLDING


@dataclass(frozen=True)
class VerdictChange:
    sla: str
    state: VerdictState
    value: float | None
    t: float
    on_breach: str
    reason: str
    # The verdict can no longer change: passed, failed, or a breach of a before, fault or
    # always SLA (a recovery SLA's breach may still recover, and is not final).
    final: bool = False


@dataclass
class _Verdict:
    spec: SlaSpec
    state: VerdictState = VerdictState.PENDING
    value: float | None = None
    had_data: bool = False
    holding_since: float | None = None  # start of the current streak of true evaluations
    history: list[tuple[float, VerdictState]] = field(default_factory=list)  # (t, new state)

    @property
    def sticky(self) -> bool:
        return self.spec.during is not Phase.RECOVERY

    def state_at(self, t: float) -> VerdictState:
        """The state the verdict was in at ``t``."""
        state = VerdictState.PENDING
        for when, new in self.history:
            if when > t:
                break
            state = new
        return state

    def final_at(self, t: float) -> VerdictState | None:
        """The final verdict already reached at ``t`` (PASSED or FAILED), else None."""
        state = self.state_at(t)
        if state is VerdictState.BREACHED and self.sticky:
            return VerdictState.FAILED  # a breach of a before/fault/always SLA is for good
        if state in (VerdictState.PASSED, VerdictState.FAILED):
            return state
        return None


class SlaTracker:
    def __init__(
        self, slas: list[SlaSpec], store: SampleStore, settle_seconds: float = 5.0
    ) -> None:
        self._verdicts = [_Verdict(spec) for spec in slas]
        self._store = store
        self._settle = settle_seconds
        self._active: dict[Phase, float] = {}  # phase -> time it (last) started
        self._always_started = False
        self._before_started: float | None = None
        self._baseline: dict[BaselineKey, float | None] = {}

    # -- phase boundaries -------------------------------------------------------------------

    def enter_phase(self, phase: Phase, t: float) -> list[VerdictChange]:
        if not self._always_started:
            self._always_started = True
            self._active[Phase.ALWAYS] = t
        if phase is Phase.ALWAYS:
            return []
        self._active[phase] = t
        if phase is Phase.BEFORE and self._before_started is None:
            self._before_started = t
        if phase is Phase.RECOVERY:
            for verdict in self._of(phase):
                verdict.holding_since = None
        return []

    def exit_phase(self, phase: Phase, t: float) -> list[VerdictChange]:
        if phase not in self._active:
            return []
        if phase is Phase.BEFORE:
            self._freeze_baseline(t)
        changes = self._evaluate_phase(phase, t, force=True)
        for verdict in self._of(phase):
            change = self._judge(verdict, t)
            if change is not None:
                changes.append(change)
        start = self._active.pop(phase)
        # The phase's window statistics are done with; another phase starting at the same
        # moment only pays one rebuild.
        for window in {c.window for v in self._of(phase) for c in v.spec.expr.calls()}:
            if window > 0:
                self._store.forget(window, start)
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
        if any(v.state is not VerdictState.HOLDING for v in recovery):
            return None
        starts = [v.holding_since for v in recovery]
        if any(start is None for start in starts):
            return None
        since = max(start for start in starts if start is not None)
        return since if now - since >= self._settle else None

    def finalize(self, now: float) -> dict[str, VerdictState]:
        """Close every open phase and return the final verdicts (each PASSED or FAILED, or
        NOT_JUDGED after ``finalize_at``)."""
        for phase in list(self._active):
            self.exit_phase(phase, now)
        for verdict in self._verdicts:
            if verdict.state not in (VerdictState.PASSED, VerdictState.NOT_JUDGED):
                verdict.state = VerdictState.FAILED
        return {verdict.spec.name: verdict.state for verdict in self._verdicts}

    def finalize_at(self, cutoff: float, why: str) -> list[VerdictChange]:
        """End judging at ``cutoff``, after which the drill's results cannot be judged.

        An SLA that had passed, or breached for good, by ``cutoff`` keeps that verdict (a
        breach becomes FAILED, as ``finalize`` makes it); every other one becomes NOT_JUDGED,
        whatever was seen after ``cutoff``. Returns the changes to NOT_JUDGED, whose reason
        is ``why``; open phases are closed without judging them.
        """
        self._active.clear()
        changes = []
        for verdict in self._verdicts:
            final = verdict.final_at(cutoff)
            if final is not None:
                verdict.state = final
            elif verdict.state is not VerdictState.NOT_JUDGED:
                changes.append(self._change(verdict, VerdictState.NOT_JUDGED, cutoff, why))
        return changes

    def states(self) -> dict[str, VerdictState]:
        return {verdict.spec.name: verdict.state for verdict in self._verdicts}

    # -- internals ---------------------------------------------------------------------------

    def baseline(self) -> dict[BaselineKey, float | None]:
        """The frozen before-phase values, by (func, probe, metric); empty until it ends."""
        return dict(self._baseline)

    def _freeze_baseline(self, t: float) -> None:
        start = self._before_started
        assert start is not None
        for verdict in self._verdicts:
            for call in verdict.spec.expr.calls():
                if call.baseline:
                    # One pass over the before phase, then the window statistics are dropped.
                    stats = self._store.stats(call.probe, call.metric, math.inf, start, t)
                    self._baseline[baseline_key(call)] = call_value(call, stats)
        self._store.forget(math.inf, start)

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
            outcome = evaluate(
                verdict.spec.expr, self._store, now=now, since=start, baseline=self._baseline
            )
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
            hold_for = verdict.spec.hold_for
            if hold_for is not None and now - verdict.holding_since < hold_for:
                return None  # true, but not yet for long enough
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
        short = verdict.holding_since is not None and verdict.spec.hold_for is not None
        unsettled = verdict.state is VerdictState.PENDING or (
            verdict.state is VerdictState.BREACHED and not verdict.sticky
        )
        if short and unsettled:
            held = t - (verdict.holding_since or t)
            return self._change(
                verdict,
                VerdictState.FAILED,
                t,
                f"held for only {held:.1f}s of the {verdict.spec.hold_for:g}s it must hold for",
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
        verdict.history.append((t, state))
        return VerdictChange(
            sla=verdict.spec.name,
            state=state,
            value=verdict.value,
            t=t,
            on_breach=verdict.spec.on_breach,
            reason=reason,
            final=verdict.final_at(t) is not None,
        )
