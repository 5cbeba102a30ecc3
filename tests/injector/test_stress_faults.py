"""stress.cpu and stress.memory: load measured from /proc, and nothing left after revert."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from injector import children
from injector.faults import stress
from injector.faults.fault import FaultError
from injector.faults.stress import StressCpuFault, StressMemoryFault
from injector.protocol import FaultSpec
from tests.conftest import have_root, require, run
from tests.injector.io_lab import cpu_cores_used, rss_bytes, session_pids

MiB = 1024**2
_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path / "state"))


@pytest.fixture(params=["stress-ng", "builtin"])
def mechanism(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "stress-ng":
        require(stress.stress_ng_path() is not None, "needs stress-ng (apt-get install stress-ng)")
    else:
        monkeypatch.setattr(stress, "stress_ng_path", lambda: None)
    return str(request.param)


@pytest.fixture
def netns() -> Iterator[str]:
    require(have_root(), "needs root (network namespaces)")
    name = f"dhs-{os.getpid()}-{next(_counter)}"
    run(["ip", "netns", "add", name])
    try:
        yield name
    finally:
        run(["ip", "netns", "del", name], check=False)


def spec(kind: str, **params: object) -> FaultSpec:
    return FaultSpec(run="5", step=4, attempt=1, kind=kind, params=params, lease_seconds=30)


def child_sid(fault: StressCpuFault | StressMemoryFault) -> int:
    record = children.read(fault.workdir, fault.child)
    assert record is not None
    return record.pid  # spawned in its own session: the session id is its pid


def test_stress_cpu_one_core_full_load_uses_one_core(mechanism: str) -> None:
    fault = StressCpuFault(spec("stress.cpu", host="h1", cores=1, load=100.0))
    assert fault.plan()["mechanism"] == mechanism
    fault.apply()
    try:
        sid = child_sid(fault)
        time.sleep(0.3)  # let the workers start
        used, waited = cpu_cores_used(sid, 1.0)
        # Got at most one core; asked for about one (the CPUs may be busy with other work).
        assert used <= 1.2 and 0.8 <= used + waited <= 1.2, f"{used:.2f} + {waited:.2f} cores"
        assert fault.is_active()
    finally:
        fault.revert()
    assert session_pids(sid) == []
    assert not fault.is_active()


def test_stress_cpu_half_load_is_duty_cycled(mechanism: str) -> None:
    fault = StressCpuFault(spec("stress.cpu", cores=1, load=50.0))
    fault.apply()
    try:
        sid = child_sid(fault)
        time.sleep(0.3)
        used, waited = cpu_cores_used(sid, 1.0)
        assert used <= 0.7 and 0.3 <= used + waited <= 0.7, f"{used:.2f} + {waited:.2f} cores"
    finally:
        fault.revert()
    assert session_pids(sid) == []


def test_stress_memory_holds_the_bytes_and_frees_them(mechanism: str) -> None:
    fault = StressMemoryFault(spec("stress.memory", host="h1", bytes=64 * MiB))
    fault.apply()
    try:
        sid = child_sid(fault)
        deadline = time.monotonic() + 10
        while rss_bytes(sid) < 60 * MiB and time.monotonic() < deadline:
            time.sleep(0.05)
        held = rss_bytes(sid)
        assert 60 * MiB <= held <= 64 * MiB + 48 * MiB, f"{held / MiB:.0f} MiB"
    finally:
        fault.revert()
    assert session_pids(sid) == []
    assert rss_bytes(sid) == 0


def test_stress_memory_refuses_more_than_half_of_available() -> None:
    available = stress.mem_available()
    fault = StressMemoryFault(spec("stress.memory", bytes=min(available, 64 * 1024**3)))
    with pytest.raises(FaultError) as info:
        fault.apply()
    assert info.value.permanent
    assert not fault.is_active()
    assert children.read(fault.workdir, fault.child) is None


def test_stress_cpu_caps_cores_at_the_machine() -> None:
    fault = StressCpuFault(spec("stress.cpu", cores=64))
    assert fault.plan()["cores"] == os.cpu_count()
    assert fault.plan()["requested_cores"] == 64


def test_stress_applied_twice_runs_once_and_a_new_object_stops_it() -> None:
    fault = StressCpuFault(spec("stress.cpu", cores=1, load=10.0))
    fault.apply()
    sid = child_sid(fault)
    fault.apply()
    assert child_sid(fault) == sid
    janitor = StressCpuFault(spec("stress.cpu", cores=1, load=10.0))
    assert janitor.is_active()
    janitor.revert()
    janitor.revert()
    assert session_pids(sid) == []
    assert not fault.is_active()


def test_stress_runs_inside_the_target_namespace(netns: str) -> None:
    fault = StressCpuFault(spec("stress.cpu", cores=1, load=10.0), netns)
    fault.apply()
    try:
        sid = child_sid(fault)
        inode = os.stat(f"/run/netns/{netns}").st_ino
        assert [os.stat(f"/proc/{pid}/ns/net").st_ino for pid in session_pids(sid)] == [
            inode
        ] * len(session_pids(sid))
    finally:
        fault.revert()
    assert session_pids(sid) == []


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("stress.cpu", {"cores": 0}),
        ("stress.cpu", {"cores": 65}),
        ("stress.cpu", {"cores": 1, "load": 0}),
        ("stress.cpu", {"cores": 1, "load": 150}),
        ("stress.cpu", {"cores": 1, "bytes": 5}),
        ("stress.memory", {"bytes": 0}),
        ("stress.memory", {"bytes": "64MiB"}),
        ("stress.memory", {"bytes": 65 * 1024**3}),
    ],
)
def test_stress_refuses_bad_params(kind: str, params: dict[str, object]) -> None:
    cls = StressCpuFault if kind == "stress.cpu" else StressMemoryFault
    with pytest.raises(FaultError) as info:
        cls(spec(kind, **params))
    assert info.value.permanent
