"""The agent's on-disk record of faults: written before the system is touched, read after a crash.

One JSON file per fault in one directory. Writes are atomic (temporary file, fsync, rename,
fsync of the directory) and read-modify-write happens under an flock on ``.lock``, because the
Celery worker and the supervisor's janitor are separate processes sharing the directory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from injector.durable_files import locked, write_atomically
from injector.protocol import FAULT_ID, FaultSpec

log = logging.getLogger(__name__)

PRUNE_AFTER_SECONDS = 3600.0


class EntryState(StrEnum):
    APPLYING = "applying"
    APPLIED = "applied"
    REVERTING = "reverting"
    REVERTED = "reverted"
    UNCONFIRMED = "unconfirmed"


# States in which the system may still carry the fault.
ACTIVE_STATES = frozenset(
    {EntryState.APPLYING, EntryState.APPLIED, EntryState.REVERTING, EntryState.UNCONFIRMED}
)
RENEWABLE_STATES = frozenset({EntryState.APPLYING, EntryState.APPLIED})


class LedgerError(Exception):
    """The ledger refused a change (an entry that exists already, a malformed fault id)."""


@dataclass(frozen=True)
class Entry:
    fault_id: str
    spec: dict[str, Any]
    netns: str | None
    state: EntryState
    lease_deadline: float
    history: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def fault_spec(self) -> FaultSpec:
        return FaultSpec.from_json(self.spec)

    @property
    def updated_at(self) -> float:
        return float(self.history[-1]["at"]) if self.history else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "fault_id": self.fault_id,
            "spec": self.spec,
            "netns": self.netns,
            "state": self.state.value,
            "lease_deadline": self.lease_deadline,
            "history": list(self.history),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(
            fault_id=str(data["fault_id"]),
            spec=dict(data["spec"]),
            netns=data.get("netns"),
            state=EntryState(data["state"]),
            lease_deadline=float(data["lease_deadline"]),
            history=tuple(data.get("history", ())),
        )

    def moved(self, state: EntryState, at: float, detail: str | None = None) -> Entry:
        event: dict[str, Any] = {"state": state.value, "at": at}
        if detail:
            event["detail"] = detail
        return replace(self, state=state, history=(*self.history, event))


class Ledger:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    # -- public API --------------------------------------------------------------------------

    def intend(self, spec: FaultSpec, netns: str | None, deadline: float) -> Entry:
        """Record that spec is about to be applied (APPLYING). Call BEFORE touching the system."""
        fault_id = spec.fault_id
        with self._locked():
            if self._path(fault_id).exists():
                raise LedgerError(f"{fault_id} is already in the ledger")
            entry = Entry(
                fault_id=fault_id,
                spec=spec.to_json(),
                netns=netns,
                state=EntryState.APPLYING,
                lease_deadline=deadline,
            ).moved(EntryState.APPLYING, time.time())
            self._write(entry)
        return entry

    def mark(
        self,
        fault_id: str,
        state: EntryState,
        *,
        expect: Collection[EntryState] | None = None,
        expired_by: float | None = None,
        detail: str | None = None,
    ) -> Entry | None:
        """Move an entry to state, optionally only if it still matches (compare-and-set).

        ``expect``: only from one of these states; ``expired_by``: only if the lease deadline is
        at or before this time (a renewal that won the race keeps the fault). Returns the updated
        entry, or None when the entry is unknown or did not match.
        """
        with self._locked():
            entry = self.get(fault_id)
            if entry is None or (expect is not None and entry.state not in expect):
                return None
            if expired_by is not None and entry.lease_deadline > expired_by:
                return None
            entry = entry.moved(state, time.time(), detail)
            self._write(entry)
        return entry

    def renew(self, fault_id: str, deadline: float) -> Entry | None:
        """Push the lease deadline of an APPLYING/APPLIED entry; None for any other entry."""
        with self._locked():
            entry = self.get(fault_id)
            if entry is None or entry.state not in RENEWABLE_STATES:
                return None
            entry = replace(entry, lease_deadline=deadline)
            self._write(entry)
        return entry

    def get(self, fault_id: str) -> Entry | None:
        if not FAULT_ID.match(fault_id):
            return None  # also keeps a hostile id from naming a path outside the directory
        return self._read(self._path(fault_id))

    def entries(self) -> list[Entry]:
        found = (self._read(path) for path in sorted(self.directory.glob("r*.json")))
        return [entry for entry in found if entry is not None]

    def active(self) -> list[Entry]:
        return [entry for entry in self.entries() if entry.state in ACTIVE_STATES]

    def expired(self, now: float) -> list[Entry]:
        return [entry for entry in self.active() if entry.lease_deadline <= now]

    def prune(self, now: float, older_than: float = PRUNE_AFTER_SECONDS) -> list[str]:
        """Delete REVERTED entries last touched more than ``older_than`` seconds ago."""
        pruned = []
        with self._locked():
            for entry in self.entries():
                if entry.state is EntryState.REVERTED and entry.updated_at < now - older_than:
                    self._path(entry.fault_id).unlink(missing_ok=True)
                    pruned.append(entry.fault_id)
        return pruned

    # -- files -------------------------------------------------------------------------------

    def _path(self, fault_id: str) -> Path:
        if not FAULT_ID.match(fault_id):
            raise LedgerError(f"malformed fault id {fault_id!r}")
        return self.directory / f"{fault_id}.json"

    def _read(self, path: Path) -> Entry | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Entry.from_json(data)
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            log.error("ledger file %s is unreadable: %s", path, exc)
            return None

    def _write(self, entry: Entry) -> None:
        data = json.dumps(entry.to_json(), indent=2, sort_keys=True).encode()
        write_atomically(self._path(entry.fault_id), data)

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return locked(self.directory / ".lock")
