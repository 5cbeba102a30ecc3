"""Halt all, the server's end: record the halt, copy it to Redis, tell every agent; release.

One of the two ends of "halt all"; the other, what a halt means to an agent and how an agent
keeps it, is ``injector/halt.py``.

The database (``drills.web.models.Halt``) is the authority: halting writes the row first, then
the Redis key, then broadcasts ``AgentTask.HALT`` to every host queue of the inventory. An agent
that takes the message keeps the halt in its own state directory and reverts at once; one that
misses it reads the key on its janitor's next sweep or before any apply. Runs in progress see
the halt through the orchestrator's abort poll and end aborted; a run started while the
database says halted is refused at once, whatever Redis says.

Any signed-in person may halt. Only an admin may release: the row is marked released, the key
removed, the release recorded in Redis (what lets an agent that kept the halt go) and broadcast
as ``AgentTask.RELEASE``. When Redis loses its copy, ``drills.web.halt_sync`` puts it back.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from drills.web.audit import AuditAction, record
from drills.web.models import Halt
from drills.web.roles import Action, can
from injector.halt import HaltFlag, HaltRelease, HaltState, HaltUnknown
from injector.protocol import (
    MAX_HALT_REASON,
    SIGNED_TASKS,
    AgentTask,
    HaltRequest,
    ReleaseRequest,
    host_of_queue,
)
from injector.signing import sign

log = logging.getLogger(__name__)

# A broadcast nobody took within this long is dropped: the key and the released marker say
# the same to an agent that reads them later, and a late halt must not revert a later run's
# faults (the agent checks the marker too).
BROADCAST_EXPIRES_S = 30.0
# Two halts are never closer than this: a halt's time is its name on the agents' side.
MIN_HALT_GAP = dt.timedelta(milliseconds=1)


class ReleaseRefused(Exception):
    """The person asking may not release a halt (only an admin may)."""


@dataclass
class HaltResult:
    halt: Halt
    created: bool  # False: a halt was in force already, and was broadcast again
    queues: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    redis_error: str = ""  # the halt holds (database) but Redis has no copy yet

    @property
    def state(self) -> HaltState:
        return self.halt.state()


@dataclass
class ReleaseResult:
    halt: Halt | None = None  # the halt the database had in force
    orphan: HaltState | None = None  # a halt only Redis held (set by hand), lifted too
    queues: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    redis_error: str = ""  # released in the database; agents hear it when Redis is back

    @property
    def released(self) -> bool:
        return self.halt is not None or self.orphan is not None


def may_release(user: Any) -> bool:
    """Only an admin lifts a halt."""
    return can(user, Action.ADMINISTER)


def halt_flag() -> HaltFlag:
    return HaltFlag.from_url(settings.REDIS_URL)


_kept_lock = threading.Lock()
_kept: dict[str, HaltFlag] = {}


def kept_halt_flag() -> HaltFlag:
    """A flag whose client stays connected, one per Redis URL, for a caller that reads it
    several times a second (drills.web.abort_watch): connecting and authenticating for each
    read cost more than the read."""
    with _kept_lock:
        flag = _kept.get(settings.REDIS_URL)
        if flag is None:
            flag = _kept[settings.REDIS_URL] = halt_flag()
        return flag


def agent_queues() -> list[str]:
    from drills.web.models import Host

    return sorted(set(Host.objects.exclude(agent_queue="").values_list("agent_queue", flat=True)))


def _name(user: Any) -> str:
    return user.get_username() if user is not None else ""


def _record_halt(reason: str, user: Any, source: str) -> tuple[Halt, bool]:
    """The halt in force, made now if there is none; True when this call made it."""
    current = Halt.objects.in_force().first()
    if current is not None:
        return current, False
    since = timezone.now()
    last = Halt.objects.order_by("-since").first()
    if last is not None and since < last.since + MIN_HALT_GAP:
        since = last.since + MIN_HALT_GAP  # a clock that stepped back must not reuse a name
    try:
        with transaction.atomic():
            halt = Halt.objects.create(reason=reason, by=user, by_name=_name(user), since=since)
            # Its name is the time as the database keeps it: the release reads it back from there.
            halt.refresh_from_db()
            record(
                AuditAction.HALT,
                actor=user,
                source=source,
                object_type="halt",
                object_id=halt.id,
                summary=f"halted every drill: {reason}",
                content=halt.state().to_dict(),
            )
    except IntegrityError:
        # Someone halted at the same moment: theirs is the halt in force.
        current = Halt.objects.in_force().first()
        if current is None:
            raise
        return current, False
    return halt, True


def halt_all(reason: str, user: Any, source: str = "") -> HaltResult:
    """Halt every drill (any signed-in person may): the database first, then Redis, then
    every agent. Halting while halted keeps the halt in force and tells every agent again."""
    reason = reason.strip()[:MAX_HALT_REASON] or "halt all"
    halt, created = _record_halt(reason, user, source)
    result = HaltResult(halt, created)
    state = halt.state()
    flag = halt_flag()
    try:
        flag.publish(state)
    except redis.RedisError as exc:
        # The database holds it: runs are refused and aborted, and the halt sync puts it in
        # Redis when Redis answers. Without Redis there is no broker to broadcast through.
        result.redis_error = str(exc)
        log.error("HALT ALL by %s is recorded, but Redis did not take it: %s", _name(user), exc)
        return result
    finally:
        flag.close()
    message = HaltRequest(state.since, state.reason, state.by).to_json()
    _broadcast(AgentTask.HALT, message, result.queues, result.unreachable)
    log.warning("HALT ALL by %s: %s (told %d agents)", _name(user) or "?", state.reason,
                len(result.queues))  # fmt: skip
    return result


def release(user: Any, source: str = "") -> ReleaseResult:
    """Lift the halt (only an admin may): the database first, then Redis, then every agent.

    A key in Redis that names no halt of the database (set by hand, or by a database since
    replaced) is lifted too: releasing is how an admin ends any halt the agents obey.
    Raises ReleaseRefused for anyone else.
    """
    if not may_release(user):
        raise ReleaseRefused(f"{_name(user) or 'this user'} is not an admin: only an admin "
                             "may release a halt")  # fmt: skip
    result = ReleaseResult()
    halt = Halt.objects.in_force().first()
    flag = halt_flag()
    try:
        try:
            published = flag.get()
        except HaltUnknown as exc:
            published, result.redis_error = None, str(exc)
        if published is not None and not Halt.objects.named(published.since).exists():
            result.orphan = published  # set by hand, or by a database since replaced
        with transaction.atomic():
            if halt is not None and Halt.objects.filter(
                id=halt.id, released_at__isnull=True
            ).update(released_at=timezone.now(), released_by=user, released_by_name=_name(user)):
                halt.refresh_from_db()
                result.halt = halt
            if result.released:
                record(
                    AuditAction.RELEASE,
                    actor=user,
                    source=source,
                    object_type="halt",
                    object_id=_released_id(result),
                    summary=_release_summary(result),
                    content=_release_content(result),
                )
        if result.redis_error:
            return result
        lifted = _lift(flag, result, user)
    except (redis.RedisError, HaltUnknown) as exc:
        result.redis_error = str(exc)
        return result
    finally:
        flag.close()
        if result.redis_error:
            log.error("release by %s: Redis did not answer: %s", _name(user), result.redis_error)
    if lifted:
        newest = max(lifted, key=lambda r: r.since)
        message = ReleaseRequest(newest.since, _name(user)).to_json()
        _broadcast(AgentTask.RELEASE, message, result.queues, result.unreachable)
    if result.released:
        log.warning("halt released by %s (told %d agents)", _name(user), len(result.queues))
    return result


def _lift(flag: HaltFlag, result: ReleaseResult, user: Any) -> list[HaltRelease]:
    """Remove the released halts from Redis and record the release there; what was lifted."""
    now = timezone.now().timestamp()
    lifted: list[HaltRelease] = []
    if result.halt is not None:
        lifted.append(result.halt.release_record())
        flag.release(lifted[-1])
    left = flag.get()
    if left is not None and not Halt.objects.in_force().named(left.since).exists():
        # No halt in force stands behind this key: the orphan above, or a halt released
        # while Redis was away.
        lifted.append(HaltRelease(left.since, _name(user), now))
        flag.release(lifted[-1])
    if not lifted and not Halt.objects.in_force().exists():
        # Nothing is halted here, yet an agent may keep a halt this database never had (it
        # was replaced, or wiped): no halt is in force up to now, so say so to every agent.
        lifted.append(HaltRelease(now, _name(user), now))
        flag.release(lifted[-1], lift=False)
    return lifted


def _released_id(result: ReleaseResult) -> str:
    return str(result.halt.id) if result.halt is not None else "redis"


def _release_summary(result: ReleaseResult) -> str:
    parts = []
    if result.halt is not None:
        parts.append(f"released the halt of {result.halt.since:%Y-%m-%d %H:%M:%S} UTC "
                     f"({result.halt.reason})")  # fmt: skip
    if result.orphan is not None:
        parts.append(f"lifted a halt only Redis held ({result.orphan.reason})")
    return "; ".join(parts)


def _release_content(result: ReleaseResult) -> dict[str, Any]:
    return {
        "released": result.halt.state().to_dict() if result.halt is not None else None,
        "lifted_from_redis": result.orphan.to_dict() if result.orphan is not None else None,
    }


def _broadcast(task: str, message: dict[str, Any], told: list[str], missed: list[str]) -> None:
    from drillhall.celery import app
    from drills.web.agents import AgentKeys
    from injector.protocol import task_id_for

    keys = AgentKeys()
    for queue in agent_queues():
        try:
            args = [message]
            if task in SIGNED_TASKS:
                # A release lifts the agent's own copy of a halt: only the server may say so.
                host = host_of_queue(queue)
                expires = time.time() + BROADCAST_EXPIRES_S
                args = [sign(keys.key(host), AgentTask(task), host, message, expires).to_json()]
            app.send_task(
                task,
                args=args,
                queue=queue,
                expires=BROADCAST_EXPIRES_S,
                ignore_result=True,
                task_id=task_id_for(queue),  # the agent's broker user owns only its own ids
            )
            told.append(queue)
        except Exception as exc:  # Redis holds the same: janitors read it without the message
            log.warning("could not send %s to %s: %s", task, queue, exc)
            missed.append(queue)


def current_halt(kept_flag: bool = False) -> HaltState | None:
    """The halt in force: the database's, else a key only Redis holds (agents obey it, so
    the server says so too). Raises HaltUnknown when the database has none and Redis cannot
    be read. ``kept_flag``: read Redis through the process's connected client."""
    halt = Halt.objects.in_force().first()
    if halt is not None:
        return halt.state()
    flag = kept_halt_flag() if kept_flag else halt_flag()
    try:
        published = flag.get()
    finally:
        if not kept_flag:
            flag.close()
    if published is None or Halt.objects.named(published.since).exists():
        return None  # a released halt whose key the halt sync is about to remove
    return published


def halt_for_page() -> tuple[HaltState | None, str | None]:
    """For page rendering: (the halt in force, why it cannot be known)."""
    try:
        return current_halt(), None
    except HaltUnknown as exc:
        return None, str(exc)


def abort_reason(kept_flag: bool = False) -> str | None:
    """For runs: "halted: <reason>" while halted, else None (``kept_flag``: as for
    ``current_halt``).

    An unreadable Redis does not abort a run while the database says there is no halt: the
    broker is the same Redis, and losing it is handled by the leases (every fault reverts on
    its own when renewals stop).
    """
    try:
        state = current_halt(kept_flag)
    except HaltUnknown:
        return None
    return None if state is None else f"halted: {state.reason}"
