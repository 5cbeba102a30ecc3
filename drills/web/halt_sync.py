"""Redis's copy of the halt, put back from the database whenever Redis has lost it.

The database (``drills.web.models.Halt``) is the authority; agents read the Redis key and the
released marker (``injector.halt``). A Redis restarted without its data has neither, so every
process that runs the run reaper's thread (the web server, every orchestrator worker; see
``drills.web.liveness.run_reaper_thread``) calls ``HaltSync.sync`` every few seconds:

- a halt in force whose key is missing (or names an older halt) is published again;
- a key naming a halt the database says was released (released while Redis was away) is
  removed, finishing that release;
- a key naming no halt of the database is left alone and logged: the agents obey it, and only
  an admin's release lifts it (a kill switch fails closed);
- the released marker is put back when it is missing or names an older release, so agents
  that kept a halt through the outage hear that it was released.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import redis

from drills.web.halt import halt_flag
from drills.web.models import Halt
from drills.web.models.halts import SAME_HALT_S
from injector.halt import HaltFlag, HaltUnknown

log = logging.getLogger(__name__)


@dataclass
class HaltSync:
    """One per process: it remembers what it already logged, so a lasting state is said once."""

    _warned_orphan: float | None = None
    _redis_down: bool = False
    done: list[str] = field(default_factory=list)  # what the last sync changed, in sentences

    def sync(self) -> list[str]:
        """Make Redis agree with the database; returns what it changed. Never raises for Redis."""
        self.done = []
        flag = halt_flag()
        try:
            self._sync(flag)
        except (redis.RedisError, HaltUnknown) as exc:
            if not self._redis_down:
                log.warning("halt sync: Redis does not answer (%s); trying again", exc)
            self._redis_down = True
            return self.done
        finally:
            flag.close()
        if self._redis_down:
            log.info("halt sync: Redis answers again")
        self._redis_down = False
        for line in self.done:
            log.warning("halt sync: %s", line)
        return self.done

    def _sync(self, flag: HaltFlag) -> None:
        in_force = Halt.objects.in_force().first()
        published = flag.get()
        if in_force is not None:
            if published is None or published.since < in_force.since_ts - SAME_HALT_S:
                flag.publish(in_force.state())
                self.done.append(f"published the halt in force again ({in_force.reason})")
            elif published.since > in_force.since_ts + SAME_HALT_S:
                self._orphan(published.since, published.reason)
        elif published is not None:
            released = Halt.objects.released().named(published.since).first()
            if released is not None:
                flag.release(released.release_record())
                self.done.append(f"finished the release of the halt ({released.reason})")
            else:
                self._orphan(published.since, published.reason)
        last = Halt.objects.released().first()
        if last is not None:
            marker = flag.released()
            if marker is None or marker.since < last.since_ts - SAME_HALT_S:
                flag.release(last.release_record(), lift=False)
                self.done.append(f"published the release of the halt ({last.reason}) again")

    def _orphan(self, since: float, reason: str) -> None:
        if self._warned_orphan == since:
            return
        self._warned_orphan = since
        log.warning(
            "halt sync: Redis holds a halt the database does not know (%s); agents obey it "
            "and it stays until an admin releases it",
            reason,
        )
