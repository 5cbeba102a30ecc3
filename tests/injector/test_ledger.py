from __future__ import annotations

import json
from pathlib import Path

import pytest

from injector.ledger import EntryState, Ledger, LedgerError
from tests.injector.fakes import fake_spec


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger")


def test_intent_is_on_disk_as_applying(ledger: Ledger) -> None:
    spec = fake_spec(run="3", step=2, attempt=1)
    ledger.intend(spec, "lab-a", deadline=1000.0)

    on_disk = json.loads((ledger.directory / "r3-s2-a1.json").read_text())
    assert on_disk["state"] == "applying"
    assert on_disk["spec"] == spec.to_json()
    assert on_disk["netns"] == "lab-a"
    assert on_disk["lease_deadline"] == 1000.0
    # A fresh Ledger (a restarted process) reads the same entry back.
    entry = Ledger(ledger.directory).get("r3-s2-a1")
    assert entry is not None and entry.fault_spec == spec


def test_intending_the_same_fault_twice_is_refused(ledger: Ledger) -> None:
    ledger.intend(fake_spec(), None, 1000.0)
    with pytest.raises(LedgerError):
        ledger.intend(fake_spec(), None, 2000.0)


def test_mark_records_history_and_honours_expected_states(ledger: Ledger) -> None:
    ledger.intend(fake_spec(), None, 1000.0)
    assert ledger.mark("r1-s1-a1", EntryState.APPLIED, expect={EntryState.APPLYING}) is not None
    assert ledger.mark("r1-s1-a1", EntryState.APPLIED, expect={EntryState.APPLYING}) is None
    entry = ledger.get("r1-s1-a1")
    assert entry is not None and entry.state is EntryState.APPLIED
    assert [h["state"] for h in entry.history] == ["applying", "applied"]
    assert ledger.mark("r9-s9-a9", EntryState.REVERTED) is None


def test_mark_with_expired_by_loses_to_a_renewal(ledger: Ledger) -> None:
    ledger.intend(fake_spec(), None, 1000.0)
    ledger.renew("r1-s1-a1", 2000.0)
    assert ledger.mark("r1-s1-a1", EntryState.REVERTING, expired_by=1500.0) is None
    assert ledger.mark("r1-s1-a1", EntryState.REVERTING, expired_by=2000.0) is not None


def test_renew_only_extends_applying_or_applied_entries(ledger: Ledger) -> None:
    ledger.intend(fake_spec(), None, 1000.0)
    renewed = ledger.renew("r1-s1-a1", 1500.0)
    assert renewed is not None and renewed.lease_deadline == 1500.0
    ledger.mark("r1-s1-a1", EntryState.REVERTED)
    assert ledger.renew("r1-s1-a1", 9000.0) is None
    assert ledger.renew("r5-s5-a5", 9000.0) is None


def test_active_and_expired(ledger: Ledger) -> None:
    for attempt, state in enumerate(EntryState, start=1):
        ledger.intend(fake_spec(attempt=attempt), None, deadline=100.0 * attempt)
        ledger.mark(f"r1-s1-a{attempt}", state)
    active = {e.fault_id: e.state for e in ledger.active()}
    assert EntryState.REVERTED not in active.values()
    assert set(active.values()) == set(EntryState) - {EntryState.REVERTED}
    assert [e.lease_deadline for e in ledger.expired(now=250.0)] == [100.0, 200.0]


def test_unknown_or_malformed_ids_are_not_found(ledger: Ledger) -> None:
    assert ledger.get("r1-s1-a1") is None
    assert ledger.get("../../etc/passwd") is None


def test_writes_leave_no_temporary_files(ledger: Ledger) -> None:
    ledger.intend(fake_spec(), None, 1000.0)
    ledger.mark("r1-s1-a1", EntryState.APPLIED)
    names = {p.name for p in ledger.directory.iterdir()}
    assert names == {"r1-s1-a1.json", ".lock"}


def test_reverted_entries_are_pruned_after_an_hour(ledger: Ledger) -> None:
    ledger.intend(fake_spec(attempt=1), None, 1000.0)
    ledger.intend(fake_spec(attempt=2), None, 1000.0)
    reverted = ledger.mark("r1-s1-a1", EntryState.REVERTED)
    assert reverted is not None
    assert ledger.prune(now=reverted.updated_at + 60) == []
    assert ledger.prune(now=reverted.updated_at + 3601) == ["r1-s1-a1"]
    assert [e.fault_id for e in ledger.entries()] == ["r1-s1-a2"]


def test_an_unreadable_file_is_skipped_not_fatal(ledger: Ledger) -> None:
    (ledger.directory / "r1-s1-a1.json").write_text("{not json")
    ledger.intend(fake_spec(attempt=2), None, 1000.0)
    assert [e.fault_id for e in ledger.active()] == ["r1-s1-a2"]
