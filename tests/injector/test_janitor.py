from __future__ import annotations

import time
from pathlib import Path

import pytest

from injector.faults.partition import PartitionFault
from injector.janitor import Janitor
from injector.ledger import EntryState, Ledger
from injector.protocol import FaultSpec
from tests.injector.fakes import FakeSystem, fake_spec
from tests.injector.netlab import NetPair


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger")


def applied(ledger: Ledger, system: FakeSystem, spec: FaultSpec, deadline: float) -> None:
    ledger.intend(spec, None, deadline)
    system.factory(spec, None).apply()
    ledger.mark(spec.fault_id, EntryState.APPLIED)


def state(ledger: Ledger, fault_id: str) -> EntryState:
    entry = ledger.get(fault_id)
    assert entry is not None
    return entry.state


def test_sweep_reverts_only_expired_leases(ledger: Ledger) -> None:
    system = FakeSystem()
    applied(ledger, system, fake_spec(attempt=1), deadline=100.0)
    applied(ledger, system, fake_spec(attempt=2), deadline=300.0)

    assert Janitor(ledger, system.factory).sweep(now=200.0) == ["r1-s1-a1"]
    assert system.applied == {"r1-s1-a2"}
    assert state(ledger, "r1-s1-a1") is EntryState.REVERTED
    assert state(ledger, "r1-s1-a2") is EntryState.APPLIED


def test_sweep_reverts_an_entry_left_applying_by_a_crash(ledger: Ledger) -> None:
    system = FakeSystem()
    spec = fake_spec()
    ledger.intend(spec, None, deadline=100.0)
    system.factory(spec, None).apply()  # ... and the worker dies before marking it applied

    assert Janitor(ledger, system.factory).sweep(now=101.0) == ["r1-s1-a1"]
    assert system.applied == set()


def test_revert_that_does_not_take_is_unconfirmed_and_retried(ledger: Ledger) -> None:
    system = FakeSystem()
    applied(ledger, system, fake_spec(), deadline=100.0)
    system.stuck.add("r1-s1-a1")
    janitor = Janitor(ledger, system.factory)

    assert janitor.sweep(now=101.0) == []
    assert state(ledger, "r1-s1-a1") is EntryState.UNCONFIRMED
    assert [e.fault_id for e in ledger.active()] == ["r1-s1-a1"]

    system.stuck.clear()
    assert janitor.sweep(now=102.0) == ["r1-s1-a1"]
    assert state(ledger, "r1-s1-a1") is EntryState.REVERTED


def test_sweep_never_raises(ledger: Ledger) -> None:
    system = FakeSystem()
    applied(ledger, system, fake_spec(attempt=1), deadline=100.0)
    applied(ledger, system, fake_spec(attempt=2), deadline=100.0)

    calls = []

    def exploding_factory(spec: FaultSpec, netns: str | None):  # type: ignore[no-untyped-def]
        calls.append(spec.fault_id)
        if spec.attempt == 1:
            raise RuntimeError("boom")
        return system.factory(spec, netns)

    assert Janitor(ledger, exploding_factory).sweep(now=101.0) == ["r1-s1-a2"]
    assert calls == ["r1-s1-a1", "r1-s1-a2"]
    assert state(ledger, "r1-s1-a1") is EntryState.UNCONFIRMED


def test_revert_all_ignores_leases(ledger: Ledger) -> None:
    system = FakeSystem()
    far = time.time() + 3600
    applied(ledger, system, fake_spec(attempt=1), deadline=far)
    applied(ledger, system, fake_spec(attempt=2), deadline=far)

    assert Janitor(ledger, system.factory).revert_all("shutdown") == ["r1-s1-a1", "r1-s1-a2"]
    assert system.applied == set()
    assert ledger.active() == []


def test_janitor_reverts_an_expired_lease_and_the_table_disappears(
    netpair: NetPair, ledger: Ledger
) -> None:
    spec = FaultSpec("5", 1, 1, "network.partition", {"peers": [netpair.addr_b]}, 1)
    fault = PartitionFault(spec, netpair.a)
    ledger.intend(spec, netpair.a, deadline=time.time() + 1)
    fault.apply()
    ledger.mark(spec.fault_id, EntryState.APPLIED)
    janitor = Janitor(ledger)

    assert janitor.sweep(now=time.time()) == []  # lease still running
    assert fault.is_active()

    assert janitor.sweep(now=time.time() + 1.5) == [spec.fault_id]
    assert netpair.nft_tables(netpair.a) == []
    assert netpair.ping(netpair.b, netpair.a)


def test_crash_after_intent_leaves_nothing_behind(netpair: NetPair, ledger: Ledger) -> None:
    # The ledger learns of the fault before the system does, so a crash between the two, or
    # between apply and "applied", is still found and cleaned up.
    spec = FaultSpec("5", 2, 1, "network.partition", {"peers": [netpair.addr_b]}, 1)
    ledger.intend(spec, netpair.a, deadline=time.time() + 1)
    PartitionFault(spec, netpair.a).apply()  # crash here: never marked APPLIED

    entry = ledger.get(spec.fault_id)
    assert entry is not None and entry.state is EntryState.APPLYING
    assert Janitor(ledger).sweep(now=time.time() + 2) == [spec.fault_id]
    assert netpair.nft_tables(netpair.a) == []
    assert netpair.ping(netpair.a, netpair.b)
