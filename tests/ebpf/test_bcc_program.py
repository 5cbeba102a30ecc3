"""ebpf.bcc_program and ebpf.log2_hist: the parts every eBPF collector shares, as pure logic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ebpf import bcc_program
from ebpf.blockio import BlockIoLatency
from ebpf.collector import Source
from ebpf.log2_hist import LatencyTotals
from ebpf.runqueue import RunqueueLatency
from ebpf.syscalls import SyscallLatency
from ebpf.tcp import TcpConnect


def test_a_local_header_is_spliced_in_where_it_is_included(tmp_path: Path) -> None:
    (tmp_path / "shared.bpf.h").write_text("BPF_HASH(shared, u32, u8, 4);\n")
    source = tmp_path / "probe.bpf.c"
    source.write_text('// probe\n#include "shared.bpf.h"\nint x;\n')
    assert (
        bcc_program.program_text(source) == b"// probe\nBPF_HASH(shared, u32, u8, 4);\n\nint x;\n"
    )


def test_system_includes_are_left_to_the_compiler(tmp_path: Path) -> None:
    source = tmp_path / "probe.bpf.c"
    source.write_text("#include <linux/sched.h>\nint x;\n")
    assert bcc_program.program_text(source) == source.read_bytes()


def test_a_missing_header_is_an_error_naming_it(tmp_path: Path) -> None:
    source = tmp_path / "probe.bpf.c"
    source.write_text('#include "gone.bpf.h"\n')
    with pytest.raises(FileNotFoundError, match="gone.bpf.h"):
        bcc_program.program_text(source)


@pytest.mark.parametrize("collector", [RunqueueLatency, SyscallLatency, BlockIoLatency, TcpConnect])
def test_no_shipped_program_is_left_with_a_local_include(collector: type) -> None:
    # bcc would compile a local include as a separate file and leave its map calls unrewritten.
    text = bcc_program.program_text(collector.program).decode()
    assert '#include "' not in text


def test_the_process_programs_share_one_scope_check() -> None:
    for collector in (RunqueueLatency, SyscallLatency):
        text = bcc_program.program_text(collector.program).decode()
        assert text.count("static __always_inline int current_in_scope(void)") == 1


def test_log2_slots_become_upper_bounds_in_ms_and_empty_slots_no_bucket() -> None:
    totals = LatencyTotals(count=3, sum_ns=3_000_000)
    for slot, n in [(6, 2), (10, 1), (7, 0), (6, 1)]:
        totals.add_slot(slot, n)
    sample = totals.sample(5.0, "read_latency_ms")
    assert (sample.value, sample.count, sample.source) == (1.0, 3, Source.EBPF)
    assert sample.buckets == {0.064: 3, 1.024: 1} and sample.labels == {}


@pytest.mark.parametrize(
    "collector", [BlockIoLatency, RunqueueLatency, SyscallLatency, TcpConnect], ids=lambda c: c.name
)
def test_a_kept_program_empties_every_map_it_has(collector: type) -> None:
    # ebpf.warm keeps programs between runs: a map missing here would carry one run's counts,
    # calls in flight or scope into the next.
    text = bcc_program.program_text(collector.program).decode()
    declared = set(re.findall(r"^BPF_(?:HASH|HISTOGRAM|ARRAY)\((\w+),", text, re.MULTILINE))
    assert declared and {m.decode() for m in collector.maps} == declared
