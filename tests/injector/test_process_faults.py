"""process.kill and process.pause against real processes in a namespace the test builds."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from injector.faults.fault import FaultError
from injector.faults.process import ProcessKillFault, ProcessPauseFault
from injector.protocol import FaultSpec
from tests.conftest import have_root, require, run
from tests.injector.io_lab import proc_state

_counter = itertools.count(1)
SLEEP = ["sleep", "30"]  # bounded: a leaked one is gone within 30 s
RUNNING = {"S", "R"}  # sleeping or, just after SIGCONT, briefly running: anything but T


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test its own agent state: a kill record left by another test would be "applied".
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path / "state"))


@pytest.fixture
def netns() -> Iterator[str]:
    require(have_root(), "needs root (network namespaces, signals to other processes)")
    name = f"dhp-{os.getpid()}-{next(_counter)}"
    run(["ip", "netns", "add", name])
    try:
        yield name
    finally:
        run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            proc.wait(timeout=5)


def start(procs: list[subprocess.Popen[bytes]], netns: str | None = None) -> int:
    argv = ["ip", "netns", "exec", netns, *SLEEP] if netns else SLEEP
    proc = subprocess.Popen(argv)  # noqa: S603 - ip netns exec execs: the pid is sleep's
    procs.append(proc)
    wait_for_comm(proc.pid, "sleep")
    return proc.pid


def wait_for_comm(pid: int, comm: str) -> None:
    for _ in range(200):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} never became {comm}")


def spec(kind: str, **params: object) -> FaultSpec:
    return FaultSpec(run="9", step=2, attempt=1, kind=kind, params=params, lease_seconds=30)


def popen(procs: list[subprocess.Popen[bytes]], pid: int) -> subprocess.Popen[bytes]:
    return next(p for p in procs if p.pid == pid)


def test_kill_by_name_kills_only_inside_the_namespace(
    netns: str, procs: list[subprocess.Popen[bytes]]
) -> None:
    inside = start(procs, netns)
    outside = start(procs)
    fault = ProcessKillFault(
        spec("process.kill", host="h1", match={"name": "sleep"}, signal="SIGKILL", count=1), netns
    )
    fault.apply()
    assert popen(procs, inside).wait(timeout=5) == -signal.SIGKILL
    assert not Path(f"/proc/{inside}").exists()
    assert proc_state(outside) in RUNNING
    assert not fault.is_active()  # a kill is instantaneous
    fault.revert()  # nothing to undo, and not an error


def test_kill_count_takes_the_oldest_first_and_applies_once(
    netns: str, procs: list[subprocess.Popen[bytes]]
) -> None:
    oldest, younger = start(procs, netns), start(procs, netns)
    fault = ProcessKillFault(
        spec("process.kill", match={"name": "sleep"}, signal="SIGTERM", count=1), netns
    )
    fault.apply()
    assert popen(procs, oldest).wait(timeout=5) == -signal.SIGTERM
    newest = start(procs, netns)
    fault.apply()  # a duplicate delivery: the recorded process only, nobody new
    assert proc_state(younger) in RUNNING and proc_state(newest) in RUNNING


def test_kill_by_pidfile_kills_that_process(
    netns: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    first, second = start(procs), start(procs)
    pidfile = tmp_path / "service.pid"
    pidfile.write_text(f"{second}\n")
    ProcessKillFault(spec("process.kill", match={"pidfile": str(pidfile)})).apply()
    assert popen(procs, second).wait(timeout=5) == -signal.SIGKILL
    assert proc_state(first) in RUNNING


def test_kill_by_cgroup_kills_its_members(procs: list[subprocess.Popen[bytes]]) -> None:
    require(have_root(), "needs root (cgroups)")
    candidates = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))  # v1 pids, else v2
    hierarchy = next((p for p in candidates if (p / "cgroup.procs").exists()), None)
    require(hierarchy is not None, "needs a writable cgroup hierarchy")
    assert hierarchy is not None
    group = hierarchy / f"drillhall-test-{os.getpid()}"
    group.mkdir()
    try:
        member, other = start(procs), start(procs)
        (group / "cgroup.procs").write_text(str(member))
        fault = ProcessKillFault(spec("process.kill", match={"cgroup": group.name}))
        fault.apply()
        assert popen(procs, member).wait(timeout=5) == -signal.SIGKILL
        assert proc_state(other) in RUNNING
    finally:
        for pid in (group / "cgroup.procs").read_text().split():
            (hierarchy / "cgroup.procs").write_text(pid)  # back to the root, so rmdir works
        group.rmdir()


def test_kill_never_signals_the_agent_itself(netns: str) -> None:
    pidfile_of_self = Path(os.environ["DRILLHALL_AGENT_STATE"]) / "self.pid"
    pidfile_of_self.parent.mkdir(parents=True, exist_ok=True)
    pidfile_of_self.write_text(str(os.getpid()))
    fault = ProcessKillFault(spec("process.kill", match={"pidfile": str(pidfile_of_self)}))
    with pytest.raises(FaultError, match="no process matches"):
        fault.apply()


def test_pause_stops_the_processes_and_revert_resumes_them(
    netns: str, procs: list[subprocess.Popen[bytes]]
) -> None:
    inside, outside = start(procs, netns), start(procs)
    fault = ProcessPauseFault(spec("process.pause", host="h1", match={"name": "sleep"}), netns)
    fault.apply()
    try:
        assert proc_state(inside) == "T"
        assert proc_state(outside) in RUNNING
        assert fault.is_active()
    finally:
        fault.revert()
    assert proc_state(inside) in RUNNING
    assert not fault.is_active()


def test_pause_revert_from_a_fresh_object_resumes_exactly_the_recorded(
    netns: str, procs: list[subprocess.Popen[bytes]]
) -> None:
    paused = start(procs, netns)
    ProcessPauseFault(spec("process.pause", match={"name": "sleep"}), netns).apply()
    # Stopped by someone else after the fault was applied: not ours to resume.
    late = start(procs, netns)
    os.kill(late, signal.SIGSTOP)
    for _ in range(200):  # SIGSTOP is delivered asynchronously
        if proc_state(late) == "T":
            break
        time.sleep(0.01)
    janitor = ProcessPauseFault(spec("process.pause", match={"name": "sleep"}), netns)
    assert janitor.is_active()
    janitor.revert()
    janitor.revert()  # idempotent
    assert proc_state(paused) in RUNNING
    assert proc_state(late) == "T"
    os.kill(late, signal.SIGCONT)


@pytest.mark.parametrize(
    "params",
    [
        {"match": {"name": "sleep", "pidfile": "/run/x.pid"}},
        {"match": {}},
        {"match": {"pidfile": "relative.pid"}},
        {"match": {"cgroup": "../escape"}},
        {"match": {"name": "sleep"}, "signal": "SIGSTOP"},
        {"match": {"name": "sleep"}, "count": 0},
        {"match": {"name": "sleep"}, "extra": 1},
    ],
)
def test_kill_refuses_bad_params(params: dict[str, object]) -> None:
    with pytest.raises(FaultError) as info:
        ProcessKillFault(spec("process.kill", **params))
    assert info.value.permanent
