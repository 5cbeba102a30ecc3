"""Run states and the transitions allowed between them.

A run whose plan faults a protected host is created ``awaiting_approval``: nothing hands it to
an orchestrator until another person approves it (then ``pending``), and declining, cancelling
or waiting too long ends it as ``aborted`` (drills/web/approvals.py).
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    PENDING = "pending"
    PREFLIGHT = "preflight"
    BASELINE = "baseline"
    INJECTING = "injecting"
    OBSERVING = "observing"
    REVERTING = "reverting"
    RECOVERING = "recovering"
    PASSED = "passed"
    FAILED = "failed"
    ABORTED = "aborted"
    ERROR = "error"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def label(self) -> str:
        """What people read: "awaiting approval", not the stored value."""
        return self.value.replace("_", " ")


TERMINAL = frozenset({RunState.PASSED, RunState.FAILED, RunState.ABORTED, RunState.ERROR})

_S = RunState
# Abort and error always pass through REVERTING so that no fault outlives its run.
TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    _S.AWAITING_APPROVAL: frozenset({_S.PENDING, _S.ABORTED, _S.ERROR}),
    _S.PENDING: frozenset({_S.AWAITING_APPROVAL, _S.PREFLIGHT, _S.ABORTED, _S.ERROR}),
    _S.PREFLIGHT: frozenset({_S.BASELINE, _S.REVERTING, _S.ERROR, _S.ABORTED}),
    _S.BASELINE: frozenset({_S.INJECTING, _S.RECOVERING, _S.REVERTING, _S.ERROR}),
    _S.INJECTING: frozenset({_S.OBSERVING, _S.REVERTING}),
    _S.OBSERVING: frozenset({_S.INJECTING, _S.REVERTING, _S.RECOVERING}),
    _S.REVERTING: frozenset(
        {_S.OBSERVING, _S.INJECTING, _S.RECOVERING, _S.ABORTED, _S.ERROR, _S.FAILED}
    ),
    _S.RECOVERING: frozenset({_S.PASSED, _S.FAILED, _S.REVERTING, _S.ERROR}),
    _S.PASSED: frozenset(),
    _S.FAILED: frozenset(),
    _S.ABORTED: frozenset(),
    _S.ERROR: frozenset(),
}


class TransitionError(RuntimeError):
    pass


def check_transition(old: RunState, new: RunState) -> None:
    if new not in TRANSITIONS[old]:
        raise TransitionError(f"run cannot go from {old} to {new}")
