"""The janitor: reverts faults whose lease ran out, so no crash leaves a host broken.

It trusts the ledger for what may be applied and the system for whether it still is: a revert
counts only when ``is_active()`` says the fault is gone; otherwise the entry is UNCONFIRMED and
retried on the next sweep.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from injector.faults.catalogue import build_fault
from injector.faults.fault import Fault
from injector.ledger import ACTIVE_STATES, Entry, EntryState, Ledger
from injector.protocol import FaultSpec

log = logging.getLogger(__name__)

FaultFactory = Callable[[FaultSpec, str | None], Fault]
# Entries that need another revert attempt whatever their lease says.
RETRY_STATES = frozenset({EntryState.REVERTING, EntryState.UNCONFIRMED})


class Janitor:
    def __init__(self, ledger: Ledger, fault_factory: FaultFactory = build_fault) -> None:
        self.ledger = ledger
        self.fault_factory = fault_factory
        # The supervisor's sweep thread and its revert_all (worker death, shutdown) share one
        # janitor: one at a time, so a revert in progress is not "retried" by the other.
        self._lock = threading.RLock()

    def sweep(self, now: float | None = None) -> list[str]:
        """Revert every active entry whose lease expired (and retry unconfirmed ones).

        Returns the fault ids whose revert was confirmed. Never raises.
        """
        with self._lock:
            return self._sweep(now)

    def _sweep(self, now: float | None) -> list[str]:
        now = time.time() if now is None else now
        reverted: list[str] = []
        try:
            due = [
                entry
                for entry in self.ledger.active()
                if entry.lease_deadline <= now or entry.state in RETRY_STATES
            ]
        except Exception:
            log.exception("janitor could not read the ledger")
            return reverted
        for entry in due:
            reason = "lease expired" if entry.lease_deadline <= now else "retrying revert"
            expired_by = now if entry.state in (EntryState.APPLYING, EntryState.APPLIED) else None
            try:
                state = self.revert(entry.fault_id, reason, expired_by=expired_by)
            except Exception:
                log.exception("janitor failed to revert %s", entry.fault_id)
                continue
            if state is EntryState.REVERTED:
                reverted.append(entry.fault_id)
        try:
            self.ledger.prune(now)
        except Exception:
            log.exception("janitor could not prune the ledger")
        return reverted

    def revert_all(self, reason: str) -> list[str]:
        with self._lock:
            return self._revert_all(reason)

    def _revert_all(self, reason: str) -> list[str]:
        """Revert every entry that may still be applied (agent start-up, shutdown, halt)."""
        reverted: list[str] = []
        try:
            entries = self.ledger.active()
        except Exception:
            log.exception("could not read the ledger to revert everything (%s)", reason)
            return reverted
        for entry in entries:
            try:
                if self.revert(entry.fault_id, reason) is EntryState.REVERTED:
                    reverted.append(entry.fault_id)
            except Exception:
                log.exception("failed to revert %s (%s)", entry.fault_id, reason)
        return reverted

    def revert(
        self, fault_id: str, reason: str, *, expired_by: float | None = None
    ) -> EntryState | None:
        """Revert one fault by id. None for an id the ledger does not know.

        With ``expired_by`` the revert only starts if the lease is still expired at that time,
        so a renewal that just landed wins.
        """
        claimed = self.ledger.mark(
            fault_id,
            EntryState.REVERTING,
            expect=ACTIVE_STATES,
            expired_by=expired_by,
            detail=reason,
        )
        if claimed is None:
            current = self.ledger.get(fault_id)
            return None if current is None else current.state
        return self._revert_claimed(claimed, reason)

    def _revert_claimed(self, entry: Entry, reason: str) -> EntryState:
        try:
            fault = self.fault_factory(entry.fault_spec, entry.netns)
            fault.revert()
            still_active = fault.is_active()
        except Exception as exc:
            log.warning("revert of %s (%s) is unconfirmed: %s", entry.fault_id, reason, exc)
            self.ledger.mark(entry.fault_id, EntryState.UNCONFIRMED, detail=str(exc))
            return EntryState.UNCONFIRMED
        if still_active:
            log.warning("revert of %s (%s) is unconfirmed: still active", entry.fault_id, reason)
            self.ledger.mark(entry.fault_id, EntryState.UNCONFIRMED, detail="still active")
            return EntryState.UNCONFIRMED
        log.info("reverted %s (%s)", entry.fault_id, reason)
        self.ledger.mark(entry.fault_id, EntryState.REVERTED, detail=reason)
        return EntryState.REVERTED
