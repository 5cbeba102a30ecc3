"""syscall_latency with a real eBPF program, a real FUSE fault and real reader processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ebpf.collector import Scope, Source
from ebpf.syscalls import SyscallLatency
from injector.faults.io import IoDelayFault, IoErrorFault
from injector.protocol import FaultSpec
from tests.ebpf.attaching import attached, interval
from tests.ebpf.proc_lab import Worker
from tests.injector.io_lab import fuse_data_dir

METRICS = {f"{op}_{kind}" for op in ("read", "write", "fsync") for kind in ("latency_ms", "errors")}
DELAY_MS = 50.0


@pytest.fixture(scope="module")
def reader() -> Iterator[Worker]:
    worker = Worker()
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def outsider() -> Iterator[Worker]:
    worker = Worker()
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def collector(reader: Worker) -> Iterator[SyscallLatency]:
    # Compiled once for the module (bcc compiles take a while), scoped to the reader only.
    with attached(SyscallLatency(Scope(pids=frozenset({reader.pid})))) as c:
        yield c


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    content = b"drillhall ebpf syscall test\n" * 4
    with fuse_data_dir(tmp_path, monkeypatch, content) as directory:
        yield directory


def io_fault(kind: str, directory: Path, **effect: object) -> IoDelayFault | IoErrorFault:
    params = {"host": "h1", "path": str(directory), "share": 100.0, "operations": ["read"],
              **effect}  # fmt: skip
    spec = FaultSpec(run="61", step=1, attempt=1, kind=kind, params=params, lease_seconds=30)
    return IoDelayFault(spec) if kind == "io.delay" else IoErrorFault(spec)


def test_io_delay_shifts_the_read_latency_of_the_reading_process(
    collector: SyscallLatency, reader: Worker, outsider: Worker, data_dir: Path
) -> None:
    path = str(data_dir / "file")
    interval(collector)
    reader.reads(path, 20)
    before = interval(collector)["read_latency_ms"]

    fault = io_fault("io.delay", data_dir, delay=DELAY_MS / 1000)
    fault.apply()
    try:
        interval(collector)
        seen_by_reader = reader.reads(path, 10)
        outsider.reads(path, 5)  # slow too, but not in the scope
        during = interval(collector)["read_latency_ms"]
    finally:
        fault.revert()

    assert before.source is Source.EBPF
    assert before.count == 20 and before.value < 5.0, before
    assert min(seen_by_reader["times"]) >= DELAY_MS / 1000 * 0.9  # the fault really was there
    assert during.count == 10, f"the outsider's reads were counted: {during}"
    assert DELAY_MS * 0.7 <= during.value <= DELAY_MS * 1.3, during
    # 50 ms lies in the log2 bucket of 32.8..65.5 ms; a busy machine may push one call past it.
    assert min(during.buckets) == 65.536 and during.buckets[65.536] >= 8, during.buckets


def test_io_error_counts_read_errors_of_the_scoped_reader(
    collector: SyscallLatency, reader: Worker, data_dir: Path
) -> None:
    fault = io_fault("io.error", data_dir, error="EIO")
    fault.apply()
    try:
        interval(collector)
        result = reader.reads(str(data_dir / "file"), 7)
        samples = interval(collector)
    finally:
        fault.revert()
    assert result["errors"] == 7
    assert samples["read_errors"].value == 7 and samples["read_errors"].count == 7
    assert samples["read_latency_ms"].count == 7
    assert samples["write_errors"].value == 0


def test_a_read_with_no_activity_since_the_last_gives_zeros_for_every_metric(
    collector: SyscallLatency, reader: Worker, data_dir: Path
) -> None:
    reader.reads(str(data_dir / "file"), 3)
    assert interval(collector)["read_latency_ms"].count == 3
    quiet = interval(collector)
    assert set(quiet) == METRICS
    for sample in quiet.values():
        assert (sample.value, sample.count, sample.buckets) == (0.0, 0, {}), sample
