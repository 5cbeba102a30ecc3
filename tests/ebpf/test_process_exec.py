"""process_exec with a real eBPF program: a known workload of execs, each seen once, as data."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ebpf.collector import CollectorUnavailable
from ebpf.process_exec import ExecEvent, ProcessExec
from tests.conftest import have_root, require

EXECS = 40


@pytest.fixture(scope="module")
def collector() -> Iterator[ProcessExec]:
    require(have_root(), "needs root (eBPF programs)")
    c = ProcessExec()
    try:
        c.attach()
    except CollectorUnavailable as exc:
        require(False, f"process_exec unavailable: {exc}")
    try:
        yield c
    finally:
        c.close()


def mine(events: list[ExecEvent]) -> list[ExecEvent]:
    return [e for e in events if e.descends_from({os.getpid()}) and e.pid != os.getpid()]


def test_every_exec_of_a_known_workload_is_seen_once_with_its_filename(
    collector: ProcessExec,
) -> None:
    collector.clear()
    pids = []
    for _ in range(EXECS):
        proc = subprocess.Popen(["/bin/true"])  # noqa: S603 (one known program)
        pids.append(proc.pid)
        proc.wait()
    seen = [e for e in collector.read() if e.filename == "/bin/true" and e.ppid == os.getpid()]
    assert sorted(e.pid for e in seen) == sorted(pids)
    assert {e.comm for e in seen} == {"true"}
    assert {e.uid for e in seen} == {os.getuid()}
    assert collector.lost == 0


def test_the_filename_is_the_program_that_ran_after_a_path_search(
    collector: ProcessExec,
) -> None:
    collector.clear()
    subprocess.run(["true"], check=True)  # noqa: S607 (found through PATH on purpose)
    [event] = mine(collector.read())
    assert os.path.basename(event.filename) == "true" and os.path.isabs(event.filename)


def test_a_grandchild_names_its_whole_chain_of_parents(collector: ProcessExec) -> None:
    collector.clear()
    code = "import subprocess; subprocess.run(['/bin/true'], check=True)"
    child = subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603
    assert child.returncode == 0
    events = mine(collector.read())
    python = next(e for e in events if e.filename == sys.executable)
    true = next(e for e in events if e.filename == "/bin/true")
    assert python.ppid == os.getpid()
    assert true.ancestors[:2] == (python.pid, os.getpid())
    assert true.descends_from({os.getpid()}) and not true.descends_from({python.pid + 10**6})


def test_a_read_returns_only_what_happened_since_the_last_one(collector: ProcessExec) -> None:
    subprocess.run(["/bin/true"], check=True)  # noqa: S603
    assert mine(collector.read())
    assert mine(collector.read()) == []
