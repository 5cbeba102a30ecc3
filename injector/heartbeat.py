"""An agent's heartbeat: the time its worker last answered its own ping through the broker, or
was seen taking tasks.

The watchdog (``injector.watchdog``) sends the worker its own ``ping`` task every few seconds
(unless it took tasks since it last looked: those are its answer); each answer is written
here, so the server can tell an agent that takes tasks from one that is gone or deaf, without
sending it anything (``/metrics``, ``drills/web/metrics``). It is the same check that makes a
deaf worker exit, so the heartbeat stops exactly when the agent would stop taking faults.

One key per host, ``drillhall:agent:<host>:heartbeat``, which only that host's Redis user may
write (``injector.redis_acl``): its value is the agent's clock as a decimal Unix time, and it
expires after a while so that a host removed for good leaves nothing behind. The server reads
it as untrusted text: anything but a plain finite number is no heartbeat.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from typing import Any

from injector.protocol import agent_heartbeat_key

log = logging.getLogger(__name__)

# Four of the watchdog's pings (every 5 s) missed: the agent is down, or deaf and about to exit.
STALE_AFTER = 20.0
# Long past any alert's threshold, short enough that a host gone for good leaves no key for long.
KEEP_SECONDS = 24 * 3600
_LONGEST = 32  # bytes: a Unix time with its fraction; anything longer is not one


def beat(client: Any, host: str, now: float | None = None) -> None:
    """Record that ``host``'s worker answered now. A broker away for a moment costs one beat."""
    at = time.time() if now is None else now
    try:
        client.set(agent_heartbeat_key(host), f"{at:.3f}", ex=KEEP_SECONDS)
    except Exception as exc:  # redis.RedisError, or a client closed under us
        log.warning("heartbeat of %s not written: %s", host, exc)


def _parse(raw: Any) -> float | None:
    if not isinstance(raw, bytes | str) or len(raw) > _LONGEST:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def last_beats(client: Any, hosts: Iterable[str]) -> dict[str, float]:
    """When each host's agent last answered (its Unix time), for the hosts that ever beat
    within KEEP_SECONDS; one round trip."""
    names = list(dict.fromkeys(hosts))
    if not names:
        return {}
    values = client.mget([agent_heartbeat_key(name) for name in names])
    found = {name: _parse(raw) for name, raw in zip(names, values, strict=True)}
    return {name: at for name, at in found.items() if at is not None}
