"""Compiled programs kept on disk (ebpf/compiled_cache.py): a second load of the same program
needs no compiler and counts what the kernel saw, and a kept file that is not private, or that
the kernel refuses, is compiled again instead of trusted."""

from __future__ import annotations

import base64
import json
import os
import struct
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ebpf import loaded_program
from ebpf.compile_child import map_references
from tests.conftest import have_root, require

PROGRAM = """
BPF_HASH(calls, u32, u64, 1024);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    calls.increment(tgid);
    return 0;
}
"""
TRACEPOINTS = [("syscalls", "sys_enter_getppid")]
# The same count as a raw tracepoint: renaming a thread (writing its comm) fires task_rename.
RAW_PROGRAM = """
BPF_HASH(calls, u32, u64, 1024);
RAW_TRACEPOINT_PROBE(task_rename) {
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    calls.increment(tgid);
    return 0;
}
"""
RAW_TRACEPOINTS = [("task", "task_rename")]


def instruction(opcode: int, src: int = 0, imm: int = 0, offset: int = 0) -> bytes:
    return struct.pack("<BBhi", opcode, src << 4, offset, imm)


def test_map_references_are_found_and_other_references_refused() -> None:
    code = instruction(0x18, 1, 7) + instruction(0) + instruction(0xB7, 0, 1)
    code += instruction(0x18, 1, 9) + instruction(0)
    assert map_references(code) == [(0, 7), (3, 9)]
    with pytest.raises(ValueError, match="kind 2"):  # a map value: not rebuilt elsewhere
        map_references(instruction(0x18, 2, 7) + instruction(0))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    require(have_root(), "needs root (eBPF programs)")
    directory = tmp_path / "cache"
    monkeypatch.setenv("DRILLHALL_BPF_CACHE", str(directory))
    return directory


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "getppid.bpf.c"
    path.write_text(textwrap.dedent(PROGRAM))
    return path


def counted(program: Any) -> int:
    table = program["calls"]
    for _ in range(5):
        os.getppid()
    return int(table[table.Key(os.getpid())].value)


def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the compiler children started from now on."""
    started: list[str] = []
    real = loaded_program._compile

    def spy(source: Path, *args: Any) -> Any:
        started.append(source.name)
        return real(source, *args)

    monkeypatch.setattr(loaded_program, "_compile", spy)
    return started


def compiled_again_and_counts(source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next load compiles (the kept file was not used) and the program counts."""
    started = compiles(monkeypatch)
    program = loaded_program.load(source, [], TRACEPOINTS, ["calls"])
    try:
        assert started == ["getppid.bpf.c"] and counted(program) == 5
    finally:
        program.cleanup()


def test_a_kept_program_loads_again_without_the_compiler_and_counts(
    cache: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = loaded_program.load(source, [], TRACEPOINTS, ["calls"])
    try:
        assert counted(first) == 5
    finally:
        first.cleanup()
    (kept,) = cache.glob("*.json")
    assert kept.stat().st_mode & 0o777 == 0o600
    started = compiles(monkeypatch)
    again = loaded_program.load(source, [], TRACEPOINTS, ["calls"])
    try:
        assert started == []
        assert counted(again) == 5  # new, empty maps: nothing of the first program's
        again.detach_tracepoint(b"syscalls:sys_enter_getppid")
        assert counted(again) == 5  # detached: nothing more counted
    finally:
        again.cleanup()


def renamed(program: Any) -> int:
    """Rename this thread five times (back to its own name): the count the program kept."""
    comm = Path("/proc/thread-self/comm")
    name = comm.read_text().strip()
    for _ in range(5):
        comm.write_text(name)
    table = program["calls"]
    return int(table[table.Key(os.getpid())].value)


def test_a_kept_raw_tracepoint_program_loads_again_as_one_and_counts(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "rename.bpf.c"
    source.write_text(textwrap.dedent(RAW_PROGRAM))
    loaded_program.load(source, [], RAW_TRACEPOINTS, ["calls"], raw=True).cleanup()
    started = compiles(monkeypatch)
    again = loaded_program.load(source, [], RAW_TRACEPOINTS, ["calls"], raw=True)
    try:
        # Loaded from the kept file with the raw tracepoint program type (the kernel refuses
        # to open a raw tracepoint for a program of another type).
        assert started == [] and renamed(again) == 5
        again.detach_tracepoint(b"task:task_rename")
        assert renamed(again) == 5  # detached: nothing more counted
    finally:
        again.cleanup()


def test_other_cflags_are_another_program(
    cache: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded_program.load(source, [], TRACEPOINTS, ["calls"]).cleanup()
    started = compiles(monkeypatch)
    loaded_program.load(source, ["-DUNUSED=1"], TRACEPOINTS, ["calls"]).cleanup()
    assert started == ["getppid.bpf.c"]
    assert len(list(cache.glob("*.json"))) == 2


def test_a_kept_file_others_may_write_is_not_loaded(
    cache: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded_program.load(source, [], TRACEPOINTS, ["calls"]).cleanup()
    (kept,) = cache.glob("*.json")
    kept.chmod(0o666)
    compiled_again_and_counts(source, monkeypatch)


def test_a_kept_program_the_kernel_refuses_is_compiled_again_and_replaced(
    cache: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded_program.load(source, [], TRACEPOINTS, ["calls"]).cleanup()
    (kept,) = cache.glob("*.json")
    entry = json.loads(kept.read_text())
    # A jump far past the end: the verifier refuses it.
    bad = instruction(0x05, offset=1000)
    entry["image"]["functions"][0]["insns"] = base64.b64encode(bad * 2).decode()
    entry["image"]["functions"][0]["references"] = []
    kept.write_text(json.dumps(entry))
    compiled_again_and_counts(source, monkeypatch)
    assert json.loads(kept.read_text())["image"]["functions"][0]["references"] != []
