"""What a game-day run does next, from how its drills stand: start the next drill, wait out
the pause, wait for the drill that runs, or end with a combined verdict and the reason.

The run is driven by whoever looks (a drill ending, the pause running out, beat's clock): each
look asks ``next_step`` with the same facts and gets the same answer, so a look twice over does
nothing twice. Nothing here knows about databases or queues.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # The document's pydantic models (and the playbook's, through them) are imported where a
    # policy is read: the game-day model imports this module's states, and loading the models
    # must not wait for them.
    from drills.gameday.document import Policy


class GameDayState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ABORTED = "aborted"
    ERROR = "error"

    @property
    def terminal(self) -> bool:
        return self in GAMEDAY_TERMINAL

    @property
    def label(self) -> str:
        return self.value


GAMEDAY_TERMINAL = frozenset(
    {GameDayState.PASSED, GameDayState.FAILED, GameDayState.ABORTED, GameDayState.ERROR}
)

# A drill's own run states that end it (drills.engine.states.TERMINAL, as stored text).
_DRILL_ENDED = {"passed", "failed", "aborted", "error"}


@dataclass(frozen=True)
class DrillStatus:
    """One drill of the day as it stands: not started (``state`` None), running, or ended."""

    position: int  # 0-based, in the document's order
    playbook: str
    state: str | None = None
    finished_at: dt.datetime | None = None
    reason: str = ""

    @property
    def started(self) -> bool:
        return self.state is not None

    @property
    def ended(self) -> bool:
        # Ended once its record is closed: the terminal state is written a moment before the
        # result that carries the reason, and a look in between must not judge the day on a
        # drill whose reason is not there yet.
        return self.state in _DRILL_ENDED and self.finished_at is not None

    @property
    def title(self) -> str:
        return f"drill {self.position + 1} ({self.playbook})"


class Action(StrEnum):
    START = "start"  # start drill ``position``
    WAIT = "wait"  # nothing to do before ``until`` (the pause between drills)
    WATCH = "watch"  # a drill runs: its end is the next thing to happen
    STOP_DRILL = "stop_drill"  # the game day is being stopped: abort the drill that runs
    FINISH = "finish"  # the game day ends as ``state``, because ``reason``


@dataclass(frozen=True)
class Step:
    action: Action
    position: int | None = None
    until: dt.datetime | None = None
    state: GameDayState | None = None
    reason: str = ""


def next_step(
    policy: Policy, drills: list[DrillStatus], now: dt.datetime, stop_reason: str | None = None
) -> Step:
    """The one thing to do now. ``drills`` lists every drill of the day in order;
    ``stop_reason`` is why the game day is being stopped (an abort, a halt), if it is."""
    running = [d for d in drills if d.started and not d.ended]
    if running:
        if stop_reason is not None:
            return Step(Action.STOP_DRILL, position=running[0].position, reason=stop_reason)
        return Step(Action.WATCH, position=running[0].position)
    ended = [d for d in drills if d.ended]
    if stop_reason is not None:
        return Step(Action.FINISH, state=GameDayState.ABORTED, reason=_stopped(stop_reason, drills))
    if ended:
        last = ended[-1]
        stop = _stops_the_day(policy, last)
        if stop is not None:
            state, why = stop
            return Step(Action.FINISH, state=state, reason=_with_rest(why, drills))
    waiting = [d for d in drills if not d.started]
    if not waiting:
        return Step(Action.FINISH, state=combined_state(drills), reason=_summary(drills))
    if ended and policy.pause > 0:
        last = ended[-1]
        if last.finished_at is not None:
            until = last.finished_at + dt.timedelta(seconds=policy.pause)
            if now < until:
                return Step(Action.WAIT, position=waiting[0].position, until=until)
    return Step(Action.START, position=waiting[0].position)


def combined_state(drills: list[DrillStatus]) -> GameDayState:
    """All passed: passed; else the worst of what ended (aborted, error, failed)."""
    states = {d.state for d in drills if d.ended}
    for state in ("aborted", "error", "failed"):
        if state in states:
            return GameDayState(state)
    if any(not d.ended for d in drills):
        return GameDayState.ABORTED  # ended with drills never run (only a stop does that)
    return GameDayState.PASSED


def _stops_the_day(policy: Policy, drill: DrillStatus) -> tuple[GameDayState, str] | None:
    # An aborted drill was stopped on purpose (a person, a halt, an approval not given in
    # time): the day stops whatever the policy. A failed or broken drill stops it when the
    # policy says so.
    why = f"{drill.title} {_ended_as(drill)}"
    if drill.state == "aborted":
        return GameDayState.ABORTED, why
    from drills.gameday.document import OnFailure

    if drill.state in ("failed", "error") and policy.on_failure is OnFailure.STOP:
        return GameDayState(drill.state), why
    return None


_ENDED_AS = {
    "passed": "passed",
    "failed": "failed",
    "aborted": "was aborted",
    "error": "ended in error",
}


def _ended_as(drill: DrillStatus) -> str:
    said = _ENDED_AS.get(drill.state or "", f"ended as {drill.state}")
    return f"{said}: {drill.reason}" if drill.reason else said


def _with_rest(why: str, drills: list[DrillStatus]) -> str:
    rest = [d for d in drills if not d.started]
    if not rest:
        return why
    names = ", ".join(d.title for d in rest)
    return f"{why}; so {names} did not start"


def _stopped(reason: str, drills: list[DrillStatus]) -> str:
    return _with_rest(f"the game day was stopped: {reason}", drills)


def _summary(drills: list[DrillStatus]) -> str:
    counts: dict[str, int] = {}
    for d in drills:
        counts[d.state or "not started"] = counts.get(d.state or "not started", 0) + 1
    if counts.get("passed") == len(drills):
        return f"every drill passed ({len(drills)} of {len(drills)})"
    parts = [f"{n} {state}" for state, n in sorted(counts.items())]
    return f"{len(drills)} drills: {', '.join(parts)}"
