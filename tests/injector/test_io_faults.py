"""io.delay and io.error: a real FUSE layer over a directory, measured by another process."""

from __future__ import annotations

import contextlib
import os
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from injector import children
from injector.faults.fault import FaultError
from injector.faults.io import CHILD, IoDelayFault, IoErrorFault
from injector.protocol import FaultSpec
from tests.injector.io_lab import fuse_data_dir, fuse_mounts_at, timed_reads, write_result

CONTENT = b"drillhall io fault test\n" * 4


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with fuse_data_dir(tmp_path, monkeypatch, CONTENT) as directory:
        yield directory


def spec(kind: str, params: dict[str, object], attempt: int = 1) -> FaultSpec:
    return FaultSpec(run="7", step=3, attempt=attempt, kind=kind, params=params, lease_seconds=30)


def delay_fault(directory: Path, **params: object) -> IoDelayFault:
    defaults: dict[str, object] = {"host": "h1", "path": str(directory), "delay": 0.05,
                                   "share": 100.0, "operations": ["read"]}  # fmt: skip
    return IoDelayFault(spec("io.delay", {**defaults, **params}))


def error_fault(directory: Path, **params: object) -> IoErrorFault:
    defaults: dict[str, object] = {"host": "h1", "path": str(directory), "error": "EIO",
                                   "share": 100.0, "operations": ["read"]}  # fmt: skip
    return IoErrorFault(spec("io.error", {**defaults, **params}))


def assert_clean(fault: IoDelayFault | IoErrorFault, directory: Path) -> None:
    assert fuse_mounts_at(directory) == []
    assert not children.alive(fault.workdir, CHILD)
    assert not (fault.workdir / f"{CHILD}.pid").exists()
    assert (directory / "file").read_bytes() == CONTENT
    assert write_result(directory / "after") == "ok"


def test_io_delay_slows_reads_by_the_delay_and_not_after_revert(data_dir: Path) -> None:
    before, _ = timed_reads(data_dir / "file", 20)
    fault = delay_fault(data_dir)
    fault.apply()
    try:
        assert fuse_mounts_at(data_dir) == [fault.fsname]
        times, errors = timed_reads(data_dir / "file", 20)
        assert errors == {}
        median = statistics.median(times)
        assert 0.040 <= median <= 0.060, f"median read {median * 1000:.1f} ms"
        # Only reads were asked for: writes go through at full speed.
        assert write_result(data_dir / "written") == "ok"
    finally:
        fault.revert()
    after, _ = timed_reads(data_dir / "file", 20)
    assert statistics.median(before) < 0.005 and statistics.median(after) < 0.005
    assert not fault.is_active()
    assert_clean(fault, data_dir)
    assert (data_dir / "written").read_bytes() == b"payload"


def test_io_error_fails_about_the_share_of_reads(data_dir: Path) -> None:
    fault = error_fault(data_dir, share=50.0)
    fault.apply()
    try:
        times, errors = timed_reads(data_dir / "file", 200)
    finally:
        fault.revert()
    share = 100.0 * errors.get("EIO", 0) / len(times)
    assert set(errors) <= {"EIO"}
    assert 40.0 <= share <= 60.0, f"{share:.0f} % of reads failed"
    assert timed_reads(data_dir / "file", 20)[1] == {}
    assert_clean(fault, data_dir)


def test_io_error_enospc_fails_writes_only(data_dir: Path) -> None:
    fault = error_fault(data_dir, error="ENOSPC", operations=["write"])
    fault.apply()
    try:
        assert write_result(data_dir / "new") == "ENOSPC"
        assert timed_reads(data_dir / "file", 5)[1] == {}
    finally:
        fault.revert()
    assert_clean(fault, data_dir)


def test_io_error_on_fsync_fails_fsync(data_dir: Path) -> None:
    fault = error_fault(data_dir, operations=["fsync"])
    fault.apply()
    try:
        assert write_result(data_dir / "synced") == "EIO"
    finally:
        fault.revert()
    assert_clean(fault, data_dir)


def test_io_fault_applied_twice_mounts_once_and_a_new_object_reverts_it(data_dir: Path) -> None:
    fault = error_fault(data_dir)
    fault.apply()
    fault.apply()
    assert fuse_mounts_at(data_dir) == [fault.fsname]
    # The janitor after a crash: a fresh object from the same spec, nothing in memory.
    janitor = error_fault(data_dir)
    assert janitor.is_active()
    janitor.revert()
    janitor.revert()  # idempotent
    assert not janitor.is_active()
    assert_clean(fault, data_dir)


def test_io_revert_unmounts_a_busy_directory(data_dir: Path) -> None:
    fault = delay_fault(data_dir, delay=0.001)
    fault.apply()
    held = os.open(data_dir / "file", os.O_RDONLY)  # an open file makes a plain unmount fail
    try:
        fault.revert()
        assert_clean(fault, data_dir)
    finally:
        # A handle opened through the layer dies with it (documented limit): ENOTCONN.
        with contextlib.suppress(OSError):
            os.close(held)


def test_io_fault_refuses_a_directory_carrying_another_fault(data_dir: Path) -> None:
    first = error_fault(data_dir)
    other = IoDelayFault(spec("io.delay", {"path": str(data_dir), "delay": 0.01}, attempt=2))
    first.apply()
    try:
        with pytest.raises(FaultError) as info:
            other.apply()
        assert info.value.permanent
        assert fuse_mounts_at(data_dir) == [first.fsname]
    finally:
        first.revert()
    assert_clean(first, data_dir)


@pytest.mark.parametrize(
    "params",
    [
        {"path": "/", "delay": 0.1},
        {"path": "relative/dir", "delay": 0.1},
        {"path": "/tmp", "delay": 0},
        {"path": "/tmp", "delay": 0.1, "share": 120},
        {"path": "/tmp", "delay": 0.1, "operations": ["open"]},
        {"path": "/tmp", "delay": 0.1, "error": "EIO"},
    ],
)
def test_io_delay_refuses_bad_params(params: dict[str, object]) -> None:
    with pytest.raises(FaultError) as info:
        IoDelayFault(spec("io.delay", params))
    assert info.value.permanent


def test_io_error_refuses_an_unknown_errno() -> None:
    with pytest.raises(FaultError):
        IoErrorFault(spec("io.error", {"path": "/tmp", "error": "EPERM"}))


def test_io_fault_refuses_a_missing_directory(data_dir: Path) -> None:
    fault = error_fault(data_dir / "missing")
    with pytest.raises(FaultError) as info:
        fault.apply()
    assert info.value.permanent
    assert not fault.is_active()
