"""Byte offsets of kernel struct fields, read from the running kernel's BTF.

bcc compiles against the kernel headers it finds, and on our hosts those are older than the
kernel (6.1 headers on a 6.18 kernel), so ``struct net`` or ``struct sk_buff`` from the headers
can have the wrong layout. The kernel describes its own types in ``/sys/kernel/btf/vmlinux``;
this module reads that (format: Documentation/bpf/btf.rst) and turns a field path such as
``sock.__sk_common.skc_net.net`` into a byte offset that the BPF C gets as a ``-D`` flag.

Plain Python, no bcc: the parse of the whole vmlinux BTF takes a fraction of a second and is
kept per process.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from pathlib import Path

VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")
MAGIC = 0xEB9F

# BTF kinds used here, and how many bytes follow each type record (per vlen item or fixed).
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT = range(1, 12)
FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(12, 20)
_FIXED_EXTRA = {INT: 4, ARRAY: 12, VAR: 4, DECL_TAG: 4}
_PER_ITEM = {STRUCT: 12, UNION: 12, ENUM: 8, FUNC_PROTO: 8, DATASEC: 12, ENUM64: 12}
# Qualifiers and typedefs that name another type without changing its layout.
_ALIASES = {TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG}


class BtfError(RuntimeError):
    """The BTF is missing, malformed, or lacks the struct or field asked for."""


@dataclass(frozen=True)
class Member:
    name: str
    type_id: int
    bit_offset: int


@dataclass(frozen=True)
class BtfType:
    kind: int
    name: str
    ref: int  # the referenced type id (pointers, typedefs, qualifiers), or the size
    members: tuple[Member, ...] = ()


class Btf:
    def __init__(self, types: list[BtfType]) -> None:
        self.types = types  # index = type id; 0 is void
        self._structs: dict[str, int] = {}
        for type_id, t in enumerate(types):
            if t.kind == STRUCT and t.name and t.name not in self._structs:
                self._structs[t.name] = type_id

    @classmethod
    def parse(cls, data: bytes) -> Btf:
        if len(data) < 24:
            raise BtfError("BTF data too short")
        magic, _version, _flags, hdr_len = struct.unpack_from("<HBBI", data, 0)
        if magic != MAGIC:
            raise BtfError(f"not BTF (magic {magic:#x})")
        type_off, type_len, str_off, str_len = struct.unpack_from("<IIII", data, 8)
        types_at, strs_at = hdr_len + type_off, hdr_len + str_off
        strings = data[strs_at : strs_at + str_len]

        def name(off: int) -> str:
            end = strings.index(b"\0", off)
            return strings[off:end].decode()

        types = [BtfType(0, "void", 0)]
        pos, end = types_at, types_at + type_len
        while pos < end:
            name_off, info, size_or_type = struct.unpack_from("<III", data, pos)
            pos += 12
            kind, vlen, kind_flag = (info >> 24) & 0x1F, info & 0xFFFF, info >> 31
            members: tuple[Member, ...] = ()
            if kind in (STRUCT, UNION):
                items = []
                raw = data[pos : pos + 12 * vlen]
                for m_name, m_type, m_off in struct.iter_unpack("<III", raw):
                    # With kind_flag the high 8 bits hold a bitfield size; the rest is the offset.
                    bits = m_off & 0xFFFFFF if kind_flag else m_off
                    items.append(Member(name(m_name), m_type, bits))
                members = tuple(items)
            if kind in _PER_ITEM:
                pos += _PER_ITEM[kind] * vlen
            elif kind in _FIXED_EXTRA:
                pos += _FIXED_EXTRA[kind]
            elif kind not in _ALIASES and kind not in (PTR, FWD, FUNC, FLOAT):
                raise BtfError(f"unknown BTF kind {kind} at type {len(types)}")
            types.append(BtfType(kind, name(name_off), size_or_type, members))
        return cls(types)

    def _resolve(self, type_id: int) -> int:
        while self.types[type_id].kind in _ALIASES:
            type_id = self.types[type_id].ref
        return type_id

    def _find(self, type_id: int, field: str) -> tuple[int, int] | None:
        """(bit offset, member type id) of field in a struct/union, looking through anonymous
        members (sk_buff keeps ``dev`` inside unnamed unions)."""
        for m in self.types[self._resolve(type_id)].members:
            if m.name == field:
                return m.bit_offset, m.type_id
            if not m.name:
                inner = self._find(m.type_id, field)
                if inner is not None:
                    return m.bit_offset + inner[0], inner[1]
        return None

    def offset(self, path: str) -> int:
        """Byte offset of ``struct.field.field...`` from the start of the struct."""
        struct_name, *fields = path.split(".")
        if struct_name not in self._structs:
            raise BtfError(f"struct {struct_name} not in kernel BTF")
        type_id, bits = self._structs[struct_name], 0
        for field in fields:
            found = self._find(type_id, field)
            if found is None:
                raise BtfError(f"{path}: no field {field!r}")
            bits, type_id = bits + found[0], found[1]
        if bits % 8:
            raise BtfError(f"{path} is a bitfield")
        return bits // 8


@functools.cache
def kernel_btf() -> Btf:
    try:
        return Btf.parse(VMLINUX_BTF.read_bytes())
    except OSError as exc:
        raise BtfError(f"cannot read {VMLINUX_BTF}: {exc.strerror}") from exc
