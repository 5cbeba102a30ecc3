"""ebpf.btf: struct field offsets read from the running kernel's own type information."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ebpf import btf as btf_module
from ebpf.btf import VMLINUX_BTF, Btf, BtfError, kernel_btf, kernel_offsets
from ebpf.tcp import OFFSETS
from tests.conftest import require


@pytest.fixture(scope="module")
def btf() -> Btf:
    try:
        return kernel_btf()
    except BtfError as exc:
        require(False, f"needs /sys/kernel/btf/vmlinux: {exc}")
        raise


def test_offsets_of_fields_whose_layout_never_changes(btf: Btf) -> None:
    assert btf.offset("list_head.next") == 0
    assert btf.offset("list_head.prev") == 8
    assert btf.offset("sock.__sk_common") == 0


def test_fields_inside_anonymous_unions_are_found(btf: Btf) -> None:
    # sk_buff keeps next, prev and dev in an unnamed union of structs.
    assert btf.offset("sk_buff.next") == 0
    assert btf.offset("sk_buff.dev") == 16


def test_every_offset_the_tcp_program_needs_resolves(btf: Btf) -> None:
    for path in OFFSETS.values():
        assert 0 <= btf.offset(path) < 4096, path


def test_unknown_struct_or_field_says_which(btf: Btf) -> None:
    with pytest.raises(BtfError, match="struct no_such_struct"):
        btf.offset("no_such_struct.x")
    with pytest.raises(BtfError, match="no field 'nope'"):
        btf.offset("sock.__sk_common.nope")


def test_data_that_is_not_btf_is_refused() -> None:
    with pytest.raises(BtfError, match="magic"):
        Btf.parse(b"\0" * 64)


class _CountingBtf:
    """Stands in for the parse: counts how often the offsets had to be read from the BTF."""

    def __init__(self) -> None:
        self.parsed = 0

    def __call__(self) -> _CountingBtf:
        self.parsed += 1
        return self

    def offset(self, path: str) -> int:
        return 8 * len(path.split("."))


PATHS = {"SK_NET": "sock.__sk_common.skc_net.net"}


@pytest.fixture
def parse(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_CountingBtf]:
    """Offsets kept in a cache directory of the test's own, the parse counted; each lookup in
    a test that clears the process's memo first is what a new process would see."""
    require(VMLINUX_BTF.exists(), "the kernel's BTF (/sys/kernel/btf/vmlinux)")
    cache = tmp_path / "bpf"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("DRILLHALL_BPF_CACHE", str(cache))
    counting = _CountingBtf()
    monkeypatch.setattr(btf_module, "kernel_btf", counting)
    btf_module._kernel_offsets.cache_clear()
    yield counting
    btf_module._kernel_offsets.cache_clear()


def test_a_fresh_process_reads_the_offsets_kept_on_disk_without_parsing(
    parse: _CountingBtf,
) -> None:
    assert kernel_offsets(PATHS) == {"SK_NET": 32}
    btf_module._kernel_offsets.cache_clear()  # what a new process starts with
    assert kernel_offsets(PATHS) == {"SK_NET": 32}
    assert parse.parsed == 1


def test_offsets_on_disk_that_were_tampered_with_are_parsed_again(
    parse: _CountingBtf, tmp_path
) -> None:
    kernel_offsets(PATHS)
    (kept,) = (tmp_path / "bpf").glob("*.json")
    entry = json.loads(kept.read_text())
    entry["offsets"][0][1] = "32); evil"
    kept.write_text(json.dumps(entry))
    btf_module._kernel_offsets.cache_clear()
    assert kernel_offsets(PATHS) == {"SK_NET": 32}
    assert parse.parsed == 2
