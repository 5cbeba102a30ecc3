"""ebpf.btf: struct field offsets read from the running kernel's own type information."""

from __future__ import annotations

import pytest

from ebpf.btf import Btf, BtfError, kernel_btf
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
