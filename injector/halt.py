"""Halt all, the agents' end: one Redis key that makes every agent revert its faults and
refuse new ones. The other end, which sets it and tells every agent, is ``drills/web/halt.py``.

The key lives in the agents' broker Redis (REDIS_URL), so whoever can send an agent a task
can halt it, and an agent that missed the broadcast (``AgentTask.HALT``) still obeys: it
reads the key before every apply and on every janitor sweep. The value is JSON
{"reason", "since", "by"}; releasing is deleting the key.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis

from injector.protocol import HALT_KEY

log = logging.getLogger(__name__)

# The janitor reads the flag twice a second: a Redis that is gone must cost little.
REDIS_TIMEOUT_S = 0.5


class HaltUnknown(Exception):
    """The flag could not be read (Redis unreachable or the value is not ours)."""


@dataclass(frozen=True)
class HaltState:
    reason: str
    since: float
    by: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> HaltState:
        try:
            data: Any = json.loads(raw)
            return cls(reason=str(data["reason"]), since=float(data["since"]), by=str(data["by"]))
        except (ValueError, TypeError, KeyError) as exc:
            # Someone else's value under our key still means "halted": never fail open.
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            log.warning("unreadable halt flag %r (%s); treating it as a halt", text[:100], exc)
            return cls(reason=f"halt flag set ({text[:100]})", since=0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class HaltFlag:
    """Read, set and clear the halt key in one Redis."""

    def __init__(self, client: redis.Redis, key: str = HALT_KEY) -> None:
        self.client = client
        self.key = key

    @classmethod
    def from_url(cls, url: str, key: str = HALT_KEY) -> HaltFlag:
        client = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            retry_on_timeout=False,
        )
        return cls(client, key)

    def get(self) -> HaltState | None:
        """The current halt, None when released; raises HaltUnknown when Redis fails."""
        try:
            raw = self.client.get(self.key)
        except redis.RedisError as exc:
            raise HaltUnknown(f"cannot read the halt flag: {exc}") from exc
        return None if raw is None else HaltState.from_json(raw)

    def set(self, reason: str, by: str = "", now: float | None = None) -> HaltState:
        """Halt (again): the newest reason wins. Raises redis.RedisError when Redis fails."""
        state = HaltState(reason=reason or "halted", since=time.time() if now is None else now,
                          by=by)  # fmt: skip
        self.client.set(self.key, state.to_json())
        return state

    def clear(self) -> bool:
        """Release; True when there was a halt to release."""
        return bool(self.client.delete(self.key))

    def close(self) -> None:
        self.client.close()
