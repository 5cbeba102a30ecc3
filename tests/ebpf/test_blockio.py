"""block_io_latency with a real eBPF program and real block requests on a loop device."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ebpf.blockio import BlockIoLatency
from ebpf.collector import Scope, Source
from tests.ebpf.attaching import attached, interval
from tests.ebpf.block_lab import direct_reads, loop_device


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with loop_device(tmp_path_factory.mktemp("blockio")) as dev:
        yield dev


@pytest.fixture(scope="module")
def collector(device: str) -> Iterator[BlockIoLatency]:
    scoped = BlockIoLatency(Scope(), devices=frozenset({os.stat(device).st_rdev}))
    with attached(scoped) as c:
        yield c


def test_direct_reads_from_a_loop_device_are_block_requests_with_a_latency(
    collector: BlockIoLatency, device: str
) -> None:
    interval(collector)
    direct_reads(device, 64)
    sample = interval(collector)["block_io_latency_ms"]
    assert sample.source is Source.EBPF
    assert sample.count >= 64, sample
    assert sample.value > 0
    assert sum(sample.buckets.values()) == sample.count
    rdev = os.stat(device).st_rdev
    assert sample.labels == {"devices": f"{os.major(rdev)}:{os.minor(rdev)}"}


def test_requests_on_other_devices_are_not_counted(
    collector: BlockIoLatency, tmp_path: Path
) -> None:
    with loop_device(tmp_path) as other:
        interval(collector)
        direct_reads(other, 16)
        assert interval(collector)["block_io_latency_ms"].count == 0


def test_a_read_with_no_activity_since_the_last_gives_zero(
    collector: BlockIoLatency, device: str
) -> None:
    direct_reads(device, 4)
    assert interval(collector)["block_io_latency_ms"].count >= 4
    quiet = interval(collector)["block_io_latency_ms"]
    assert (quiet.value, quiet.count, quiet.buckets) == (0.0, 0, {})
