"""Halt all, the server's end: set the flag, tell every agent, release.

One of the two ends of "halt all"; the other, what the flag means to an agent, is
``injector/halt.py``.

The flag itself (a Redis key in the broker's Redis) and its meaning for agents live in
``injector.halt``. Halting sets the key first and then broadcasts ``AgentTask.HALT`` to
every host queue of the inventory: an agent that takes the message reverts at once, one that
misses it reverts on its janitor's next sweep, and every apply is refused until release.
Runs in progress see the flag through the orchestrator's abort poll and end aborted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from injector.halt import HaltFlag, HaltState, HaltUnknown
from injector.protocol import AgentTask, HaltRequest

log = logging.getLogger(__name__)

# A halt message nobody took within this long is dropped: the janitor obeys the flag anyway,
# and a late one must not revert a later run's faults (the task also checks the flag).
BROADCAST_EXPIRES_S = 30.0


@dataclass
class HaltResult:
    state: HaltState
    queues: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.state.to_dict(),
            "queues": list(self.queues),
            "unreachable": list(self.unreachable),
        }


def halt_flag() -> HaltFlag:
    return HaltFlag.from_url(settings.REDIS_URL)


def agent_queues() -> list[str]:
    from drills.web.models import Host

    return sorted(set(Host.objects.exclude(agent_queue="").values_list("agent_queue", flat=True)))


def halt_all(reason: str, by: str = "") -> HaltResult:
    """Set the flag (raises redis.RedisError when that fails), then tell every agent."""
    from drillhall.celery import app
    from drills.web.agents import task_id_for

    flag = halt_flag()
    try:
        state = flag.set(reason.strip() or "halt all", by=by)
    finally:
        flag.close()
    result = HaltResult(state)
    for queue in agent_queues():
        try:
            app.send_task(
                AgentTask.HALT,
                args=[HaltRequest(state.since).to_json()],
                queue=queue,
                expires=BROADCAST_EXPIRES_S,
                ignore_result=True,
                task_id=task_id_for(queue),
            )
            result.queues.append(queue)
        except Exception as exc:  # the flag is set: janitors will obey it without the message
            log.warning("could not send halt to %s: %s", queue, exc)
            result.unreachable.append(queue)
    log.warning("HALT ALL by %s: %s (told %d agents)", by or "?", state.reason, len(result.queues))
    return result


def release(by: str = "") -> bool:
    """Clear the flag; True when there was a halt. Raises redis.RedisError on failure."""
    flag = halt_flag()
    try:
        released = flag.clear()
    finally:
        flag.close()
    if released:
        log.warning("halt released by %s", by or "?")
    return released


def current_halt() -> HaltState | None:
    """The halt in force, or None. Raises HaltUnknown when Redis cannot be read."""
    flag = halt_flag()
    try:
        return flag.get()
    finally:
        flag.close()


def halt_for_page() -> tuple[HaltState | None, str | None]:
    """For page rendering: (the halt in force, why it cannot be known)."""
    try:
        return current_halt(), None
    except HaltUnknown as exc:
        return None, str(exc)


def abort_reason() -> str | None:
    """For runs in progress: "halted: <reason>" while halted, else None.

    An unreadable flag does not abort a run: the broker is the same Redis, and losing it is
    handled by the leases (every fault reverts on its own when renewals stop).
    """
    try:
        state = current_halt()
    except HaltUnknown:
        return None
    return None if state is None else f"halted: {state.reason}"
