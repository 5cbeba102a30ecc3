"""Silences for fault windows: a drill quiets the alerts it knows it is about to set off.

Before a step's faults are applied, the run asks its ``Silencer`` (Alertmanager's API,
drills/engine/alertmanager.py) for one silence per host the step faults, until the step's
planned end plus a margin. When the step's faults are reverted, or the run ends, whichever
comes first, it expires them. The margin is the longest an apply may take (the agent timeout)
plus a fault's lease, the longest a fault outlives a run that died: a silence whose run died
ends by itself soon after the fault does.

Silencing never blocks or distorts a drill. Every call is bounded by the silencer's short
timeout; a failure is an event that says why, and the drill goes on. Once the silencer could not
be reached, the run asks it for no new silence (each later fault window says so), so a dead
Alertmanager costs a run one timeout, not one per window. When in doubt, alerts get through: a
revert the agent could not confirm still ends its silence.

Every silence, and every failure to make or end one, is a ``silence`` event with its id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from drills.engine.clock import Clock, utc_time
from drills.engine.events import Emit, EventType
from injector.protocol import fault_id

if TYPE_CHECKING:  # settings read the Alertmanager URL through alertmanager.py: keep it light
    from drills.engine.plan import PlannedStep

log = logging.getLogger(__name__)

GOES_ON = "the drill goes on"


class SilenceError(Exception):
    """A silence could not be made or ended: ``str(exc)`` is the sentence. ``unreachable``:
    the silencer did not answer at all (not running, a timeout), rather than refusing."""

    def __init__(self, message: str, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class SilenceState(StrEnum):
    CREATED = "created"
    EXPIRED = "expired"
    FAILED = "failed"


class Silencer(Protocol):
    """Where a run's silences go; raises ``SilenceError`` (tests use fakes)."""

    def describe(self, host: str) -> str:
        """Which alerts a silence for ``host`` covers, for a sentence: "instance is db1 or
        db1:<port>"."""
        ...

    def create(self, host: str, starts_at: float, ends_at: float, comment: str) -> str:
        """A silence of the alerts about ``host`` from ``starts_at`` to ``ends_at``; its id."""
        ...

    def expire(self, silence_id: str) -> None:
        """End it now (one that has ended already is fine)."""
        ...


@dataclass(frozen=True)
class HeldSilence:
    silence_id: str
    step: int
    host: str
    ends_at: float


def expired(held: HeldSilence, at: float) -> dict[str, Any]:
    """The event of a silence expired at ``at``."""
    return {
        "step": held.step,
        "host": held.host,
        "silence_id": held.silence_id,
        "state": SilenceState.EXPIRED.value,
        "ends_at": at,
        "message": f"the silence of alerts about {held.host} is expired "
        f"(silence {held.silence_id})",
    }


def not_expired(held: HeldSilence, why: str) -> dict[str, Any]:
    """The event of a silence that could not be expired: it ends at its own end time."""
    return {
        "step": held.step,
        "host": held.host,
        "silence_id": held.silence_id,
        "state": SilenceState.FAILED.value,
        "ends_at": held.ends_at,
        "message": f"the silence of alerts about {held.host} could not be expired: {why}; it "
        f"ends by itself at {utc_time(held.ends_at)}",
    }


def silence_margin(agent_timeout: float, lease_seconds: float) -> float:
    """How long a silence outlasts its window's planned end when nobody expires it: the
    longest an apply may take, plus the lease a fault keeps after its run's last renewal."""
    return agent_timeout + lease_seconds


class FaultSilences:
    def __init__(
        self,
        run_key: str,
        drill: str,
        silencer: Silencer | None,
        clock: Clock,
        emit: Emit,
        margin: float,
    ) -> None:
        self.run_key = run_key
        self.drill = drill  # the playbook's name, for the silence's comment
        self.silencer = silencer
        self.clock = clock
        self.margin = margin
        self._emit = emit
        self._held: dict[tuple[int, str], HeldSilence] = {}
        self._unreachable: str | None = None  # why the silencer is not asked again

    @property
    def held(self) -> list[HeldSilence]:
        return list(self._held.values())

    def cover(self, step: PlannedStep) -> None:
        """Before ``step``'s faults are applied: silence the alerts about each host it faults,
        until its planned end plus the margin."""
        if self.silencer is None:
            return
        now = self.clock.now()
        ends_at = now + step.duration + self.margin
        for host in dict.fromkeys(fault.host for fault in step.faults):  # once each, in order
            if (step.index, host) in self._held:
                continue
            if self._unreachable is not None:
                self._failed(
                    step,
                    host,
                    f"alerts about {host} are not silenced: not asked again after this run's "
                    f"first failure ({self._unreachable})",
                )
                continue
            kinds = ", ".join(dict.fromkeys(f.kind for f in step.faults if f.host == host))
            comment = (
                f"Drillhall drill {self.drill}, run {self.run_key}: {kinds} on {host} "
                f"(fault {fault_id(self.run_key, step.index, 1)}, step {step.path}); expired "
                "when the fault is reverted"
            )
            try:
                silence_id = self.silencer.create(host, now, ends_at, comment)
            except SilenceError as exc:
                if exc.unreachable:
                    self._unreachable = str(exc)
                self._failed(step, host, f"alerts about {host} are not silenced: {exc}; {GOES_ON}")
                continue
            except Exception as exc:  # never let silencing end a drill
                log.exception("run %s: silencing %s failed", self.run_key, host)
                self._failed(step, host, f"alerts about {host} are not silenced: {exc}; {GOES_ON}")
                continue
            self._held[(step.index, host)] = HeldSilence(silence_id, step.index, host, ends_at)
            self._emit(
                EventType.SILENCE,
                {
                    "step": step.index,
                    "host": host,
                    "silence_id": silence_id,
                    "state": SilenceState.CREATED.value,
                    "ends_at": ends_at,
                    "matches": self.silencer.describe(host),
                    "message": f"alerts whose {self.silencer.describe(host)} are silenced until "
                    f"{utc_time(ends_at)} at the latest (silence {silence_id})",
                },
            )

    def lift(self, faults: Iterable[tuple[int, str]]) -> None:
        """After the faults (step, host) were reverted: expire their silences."""
        for key in dict.fromkeys(faults):
            held = self._held.pop(key, None)
            if held is not None:
                self._expire(held)

    def lift_all(self) -> None:
        """The run ends: expire every silence it still holds."""
        for key in list(self._held):
            self._expire(self._held.pop(key))

    def _expire(self, held: HeldSilence) -> None:
        assert self.silencer is not None  # held silences come from it
        try:
            self.silencer.expire(held.silence_id)
        except Exception as exc:  # a SilenceError, or anything else: the drill goes on
            if not isinstance(exc, SilenceError):
                log.exception("run %s: expiring silence %s failed", self.run_key, held.silence_id)
            self._emit(EventType.SILENCE, not_expired(held, str(exc)))
            return
        self._emit(EventType.SILENCE, expired(held, self.clock.now()))

    def _failed(self, step: PlannedStep, host: str, message: str) -> None:
        self._emit(
            EventType.SILENCE,
            {"step": step.index, "host": host, "state": SilenceState.FAILED.value,
             "message": message},
        )  # fmt: skip
