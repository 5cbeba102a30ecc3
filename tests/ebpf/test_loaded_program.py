"""Programs compiled in a short-lived child and used by their descriptors: the agent's process
never loads clang, LLVM or libbcc, and what it reads through plain system calls is what the
kernel counted."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ebpf.collector import CollectorUnavailable
from ebpf.compile_child import describe
from ebpf.loaded_program import ctype_of, load
from tests.conftest import have_root, require

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def compile_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the compiler child: no program comes from the kept ones
    (tests/ebpf/test_compiled_cache.py)."""
    monkeypatch.setenv("DRILLHALL_BPF_CACHE", "off")


class Totals(ctypes.Structure):
    _fields_ = [("count", ctypes.c_ulonglong), ("pad", ctypes.c_ubyte * 4),
                ("sum_ns", ctypes.c_ulonglong)]  # fmt: skip


def test_map_types_survive_the_trip_from_the_child() -> None:
    rebuilt = ctype_of(describe(Totals))
    assert [f[0] for f in rebuilt._fields_] == ["count", "pad", "sum_ns"]
    assert ctypes.sizeof(rebuilt) == ctypes.sizeof(Totals)
    assert ctype_of(describe(ctypes.c_uint)) is ctypes.c_uint
    with pytest.raises(ValueError, match="unknown map type"):
        ctype_of("c_no_such_type")


def test_a_program_that_does_not_compile_says_why(tmp_path: Path) -> None:
    require(have_root(), "needs root (eBPF programs)")
    source = tmp_path / "broken.bpf.c"
    source.write_text("this is not C;\n")
    with pytest.raises(CollectorUnavailable, match="broken.bpf.c did not compile or load"):
        load(source, [], [], [])


def test_counts_read_by_descriptor_are_the_kernels(tmp_path: Path) -> None:
    require(have_root(), "needs root (eBPF programs)")
    source = tmp_path / "getpid.bpf.c"
    source.write_text(
        textwrap.dedent("""
        BPF_HASH(calls, u32, u64, 1024);
        TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
            u32 tgid = bpf_get_current_pid_tgid() >> 32;
            calls.increment(tgid);
            return 0;
        }
    """)
    )
    program = load(source, [], [("syscalls", "sys_enter_getppid")], ["calls"])
    try:
        table = program["calls"]
        for _ in range(7):
            os.getppid()
        assert table[table.Key(os.getpid())].value == 7
        taken = {k.value: v.value for k, v in table.items_lookup_and_delete_batch()}
        assert taken[os.getpid()] == 7 and not table.items()
        program.detach_tracepoint(b"syscalls:sys_enter_getppid")
        os.getppid()
        assert not table.items()  # detached: nothing counted
    finally:
        program.cleanup()


def test_an_agent_with_every_collector_attached_has_no_compiler_in_it() -> None:
    require(have_root(), "needs root (eBPF programs)")
    script = textwrap.dedent("""
        import os
        from ebpf.collector import Scope
        from ebpf.registry import open_collector
        held = []
        for name in ("tcp_retransmits", "tcp_resets", "tcp_connect", "block_io_latency",
                     "syscall_latency", "runqueue_latency"):
            collector, why = open_collector(name, Scope(pids=frozenset({os.getpid()}))
                                            if name in ("syscall_latency", "runqueue_latency")
                                            else Scope(), ebpf=True)
            held.append(collector)
        libraries = {line.split()[-1] for line in open("/proc/self/maps") if "/" in line}
        print(sorted(lib for lib in libraries if "LLVM" in lib or "clang" in lib or "bcc" in lib))
        print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout.splitlines()  # fmt: skip
    assert out[0] == "[]"
    assert int(out[1]) < 60 * 1024  # kB: the six programs compiled took 180 MiB in-process
