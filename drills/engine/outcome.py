"""How a run ended: the one type every outcome is built by, errors included.

The engine builds it at the end of a run; the web shell builds it for runs that never reached
the engine (a refused plan, an unreachable broker) and for runs whose orchestrator was lost.
Its dict is what the run's result event carries and what the run's row stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drills.engine.states import RunState


@dataclass(frozen=True)
class RunOutcome:
    state: RunState
    verdicts: dict[str, str] = field(default_factory=dict)
    rto: float | None = None
    rto_objective: float | None = None
    reason: str = ""
    rpo: dict[str, Any] | None = None

    @classmethod
    def error(cls, reason: str, rto_objective: float | None = None) -> RunOutcome:
        """A run that ended in error: ``reason`` is a sentence saying what happened."""
        return cls(RunState.ERROR, {}, None, rto_objective, reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "verdicts": dict(self.verdicts),
            "rto": self.rto,
            "rto_objective": self.rto_objective,
            "reason": self.reason,
            "rpo": self.rpo,
        }
