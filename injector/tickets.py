"""The runs an agent was told about: one signed ``RunTicket`` per run, kept on disk.

An agent applies a fault only for a run whose ticket it holds (injector/gate.py). Tickets live
in ``<state dir>/tickets/<run key>.json`` so that a worker that restarts mid-run still knows
the run; writes are atomic (temporary file, fsync, rename, fsync of the directory), and a
ticket past its expiry is pruned whenever a new one is recorded. Only the agent's worker writes
here; the supervisor and janitor never need tickets (reverting needs no permission).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path

from injector.durable_files import sync_directory, write_atomically
from injector.protocol import ProtocolError, RunTicket, check_run_key

log = logging.getLogger(__name__)


class TicketBook:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def record(self, ticket: RunTicket, now: float | None = None) -> None:
        """Keep ``ticket`` (a newer one for the same run replaces it) and prune expired ones."""
        now = time.time() if now is None else now
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = json.dumps(ticket.to_json(), sort_keys=True).encode()
        write_atomically(self._path(ticket.run), data)
        self.prune(now)

    def get(self, run: str, now: float | None = None) -> RunTicket | None:
        """The run's ticket while it is valid; None when there is none or it expired."""
        now = time.time() if now is None else now
        try:
            path = self._path(run)
        except ProtocolError:
            return None
        ticket = self._read(path)
        if ticket is None or ticket.run != run or ticket.expires <= now:
            return None
        return ticket

    def tickets(self) -> list[RunTicket]:
        if not self.directory.is_dir():
            return []
        found = (self._read(path) for path in sorted(self.directory.glob("*.json")))
        return [ticket for ticket in found if ticket is not None]

    def prune(self, now: float | None = None) -> list[str]:
        """Remove expired tickets; returns their run keys."""
        now = time.time() if now is None else now
        removed = []
        for ticket in self.tickets():
            if ticket.expires <= now:
                with contextlib.suppress(FileNotFoundError):
                    self._path(ticket.run).unlink()
                removed.append(ticket.run)
        if removed:
            self._sync_directory()
        return removed

    def _path(self, run: str) -> Path:
        return self.directory / f"{check_run_key(run)}.json"

    def _read(self, path: Path) -> RunTicket | None:
        try:
            return RunTicket.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # ProtocolError is a ValueError
            # Only this agent writes here, atomically: a bad file was put there by hand.
            log.warning("ignoring the unreadable run ticket %s: %s", path, exc)
            return None

    def _sync_directory(self) -> None:
        sync_directory(self.directory)
