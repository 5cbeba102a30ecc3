"""Halt all, the agents' end: what makes an agent revert every fault and refuse new ones, and
what alone lets it go back to work. The other end, which halts, releases and keeps Redis in
step with the database, is ``drills/web/halt.py``.

Three places hold a halt, each for its own failure:

- The server's database is the authority (``drills.web.models.Halt``). Agents never read it.
- Redis holds a copy for speed: the key ``HALT_KEY`` (a ``HaltState`` as JSON) while a halt is
  in force, and the marker ``HALT_RELEASED_KEY`` (a ``HaltRelease``) naming the newest halt
  an admin released. The server re-publishes both when Redis comes back empty.
- Each agent keeps its own copy (``HaltCopy``, a file in its state directory), written as soon
  as it hears of a halt: from the broadcast ``AgentTask.HALT``, or from the key, read before
  every apply and on every janitor sweep.

An agent obeys its copy until it hears a release of that halt: the broadcast
``AgentTask.RELEASE``, or the released marker naming a halt at least as new as its copy.
A missing key is not a release: a restarted Redis has lost it, and an agent restarted then still
has its copy. Halts are told apart by ``since`` (the server's time of the halt, kept increasing
by the server), so a release of one halt never lifts a later one, and releasing a halt
releases every earlier one an agent may have kept.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis

from injector.durable_files import locked, sync_directory, write_atomically
from injector.protocol import HALT_KEY, HALT_RELEASED_KEY

log = logging.getLogger(__name__)

# The janitor reads the flag twice a second: a Redis that is gone must cost little.
REDIS_TIMEOUT_S = 0.5
COPY_NAME = "halt.json"


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


@dataclass(frozen=True)
class HaltRelease:
    """The newest halt an admin released: every halt with ``since`` up to this one is over."""

    since: float
    by: str = ""
    at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> HaltRelease | None:
        """None for a value that is not ours: an unreadable marker releases nothing."""
        try:
            data: Any = json.loads(raw)
            return cls(since=float(data["since"]), by=str(data["by"]), at=float(data["at"]))
        except (ValueError, TypeError, KeyError):
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            log.warning("unreadable halt release marker %r; it releases nothing", text[:100])
            return None

    def covers(self, halt: HaltState) -> bool:
        return halt.since <= self.since


class HaltFlag:
    """The halt key and the released marker in one Redis."""

    def __init__(
        self, client: redis.Redis, key: str = HALT_KEY, released_key: str = HALT_RELEASED_KEY
    ) -> None:
        self.client = client
        self.key = key
        self.released_key = released_key

    @classmethod
    def from_url(cls, url: str, key: str = HALT_KEY) -> HaltFlag:
        client = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            retry_on_timeout=False,
        )
        released_key = HALT_RELEASED_KEY if key == HALT_KEY else f"{key}:released"
        return cls(client, key, released_key)

    def get(self) -> HaltState | None:
        """The current halt, None when the key is absent; raises HaltUnknown when Redis fails."""
        try:
            raw = self.client.get(self.key)
        except redis.RedisError as exc:
            raise HaltUnknown(f"cannot read the halt flag: {exc}") from exc
        return None if raw is None else HaltState.from_json(raw)

    def released(self) -> HaltRelease | None:
        """The released marker; raises HaltUnknown when Redis fails."""
        try:
            raw = self.client.get(self.released_key)
        except redis.RedisError as exc:
            raise HaltUnknown(f"cannot read the halt release marker: {exc}") from exc
        return None if raw is None else HaltRelease.from_json(raw)

    def set(self, reason: str, by: str = "", now: float | None = None) -> HaltState:
        """Halt (again): the newest reason wins. Raises redis.RedisError when Redis fails."""
        state = HaltState(reason=reason or "halted", since=time.time() if now is None else now,
                          by=by)  # fmt: skip
        self.publish(state)
        return state

    def publish(self, state: HaltState) -> None:
        """Put ``state`` under the key. Raises redis.RedisError when Redis fails."""
        self.client.set(self.key, state.to_json())

    def release(self, release: HaltRelease, lift: bool = True) -> bool:
        """Record the release (the marker only moves forward) and, with ``lift``, remove the
        key if it names that halt or an earlier one: a key naming a later halt stays, so a slow
        release never lifts a halt pressed after it. True when a key was removed.
        Raises redis.RedisError when Redis fails."""

        def change(pipe: Any) -> bool:
            raw = pipe.get(self.key)
            current = None if raw is None else HaltState.from_json(raw)
            lifting = lift and current is not None and release.covers(current)
            marker_raw = pipe.get(self.released_key)
            marker = None if marker_raw is None else HaltRelease.from_json(marker_raw)
            pipe.multi()
            if lifting:
                pipe.delete(self.key)
            if marker is None or marker.since < release.since:
                pipe.set(self.released_key, release.to_json())
            return lifting

        return bool(
            self.client.transaction(change, self.key, self.released_key, value_from_callable=True)
        )

    def clear(self) -> bool:
        """Delete the key without recording a release (tests and tools); True when it was set."""
        return bool(self.client.delete(self.key))

    def forget_release(self) -> None:
        """Delete the released marker (tests: a Redis that came back empty)."""
        self.client.delete(self.released_key)

    def close(self) -> None:
        self.client.close()


class HaltCopy:
    """An agent's own copy of the halt it obeys: one JSON file in its state directory.

    Written atomically (temporary file, fsync, rename, fsync of the directory) under an flock,
    like the ledger, because the Celery worker and the supervisor's janitor share the directory
    and either may hear of a halt or a release first.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / COPY_NAME

    def get(self) -> HaltState | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        # A damaged copy still means halted (HaltState reads a foreign value as a halt).
        return HaltState.from_json(raw)

    def keep(self, state: HaltState) -> bool:
        """Keep ``state`` unless the copy already holds it or a later halt; True when written."""
        with self._locked():
            current = self.get()
            if current is not None and (current.since > state.since or current == state):
                return False
            self._write(state)
        log.warning("halt kept in %s: %s (since %.3f)", self.path, state.reason, state.since)
        return True

    def release(self, release: HaltRelease) -> HaltState | None:
        """Drop the copy if ``release`` covers it; returns the halt released, if any."""
        with self._locked():
            current = self.get()
            if current is None or not release.covers(current):
                return None
            self.path.unlink(missing_ok=True)
            self._sync_directory()
        log.warning("halt released (%s); faults may be applied again", current.reason)
        return current

    def _write(self, state: HaltState) -> None:
        write_atomically(self.path, state.to_json().encode())

    def _sync_directory(self) -> None:
        sync_directory(self.directory)

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return locked(self.directory / ".halt.lock")


class AgentHalt:
    """What one agent obeys: its own copy, kept in step with what Redis says.

    ``flag`` is None only in tests that have no Redis: the copy alone then decides.
    """

    def __init__(self, copy: HaltCopy, flag: HaltFlag | None) -> None:
        self.copy = copy
        self.flag = flag

    def current(self) -> HaltState | None:
        """The halt in force for this agent, or None.

        Raises HaltUnknown only when Redis cannot be read and the agent keeps no halt: with a
        copy, the answer is known (halted) whatever Redis does.
        """
        kept = self.copy.get()
        if self.flag is None:
            return kept
        try:
            published = self.flag.get()
            marker = self.flag.released() if published is None and kept is not None else None
        except HaltUnknown:
            if kept is not None:
                return kept
            raise
        if published is not None:
            if kept != published:
                self.copy.keep(published)
            return published if kept is None or published.since >= kept.since else kept
        if kept is not None and marker is not None and marker.covers(kept):
            self.copy.release(marker)
            return None
        return kept  # no key is not a release: Redis may have come back empty

    def hear_halt(self, state: HaltState) -> bool:
        """A halt broadcast arrived; False when that halt was released before it got here."""
        if self.flag is not None:
            try:
                marker = self.flag.released()
            except HaltUnknown:
                marker = None  # the safe side: obey it
            if marker is not None and marker.covers(state):
                return False
        self.copy.keep(state)
        return True

    def hear_release(self, release: HaltRelease) -> HaltState | None:
        """A release broadcast arrived: drop the copy if it covers it; returns what it lifted."""
        return self.copy.release(release)
