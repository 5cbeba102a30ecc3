"""Byte offsets of kernel struct fields, read from the running kernel's BTF.

bcc compiles against the kernel headers it finds, and on our hosts those are older than the
kernel (6.1 headers on a 6.18 kernel), so ``struct net`` or ``struct sk_buff`` from the headers
can have the wrong layout. The kernel describes its own types in ``/sys/kernel/btf/vmlinux``;
this module reads that (format: Documentation/bpf/btf.rst) and turns a field path such as
``sock.__sk_common.skc_net.net`` into a byte offset that the BPF C gets as a ``-D`` flag.

Plain Python, no bcc: the parse of the whole vmlinux BTF takes a fraction of a second (0.2 s
of a fresh agent's first preflight). It is not kept (its objects take about 40 MiB, which an
agent would carry for its whole life); the few offsets asked for are, in the process and on
disk beside the compiled programs (``ebpf.compiled_cache``), keyed by the running kernel.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
from array import array
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


class Btf:
    """The raw BTF and where each type record starts; records are decoded when asked for, so
    a parse holds the data and one integer per type, not an object per type and member."""

    def __init__(self, data: bytes, positions: array, strings_at: int, strings_len: int) -> None:
        self.data = data
        self.positions = positions  # index = type id; 0 is void
        self._strings_at, self._strings_len = strings_at, strings_len
        self._structs: dict[str, int] | None = None

    @classmethod
    def parse(cls, data: bytes) -> Btf:
        if len(data) < 24:
            raise BtfError("BTF data too short")
        magic, _version, _flags, hdr_len = struct.unpack_from("<HBBI", data, 0)
        if magic != MAGIC:
            raise BtfError(f"not BTF (magic {magic:#x})")
        type_off, type_len, str_off, str_len = struct.unpack_from("<IIII", data, 8)
        types_at = hdr_len + type_off
        positions = array("I", [0])
        pos, end = types_at, types_at + type_len
        while pos < end:
            positions.append(pos)
            info = struct.unpack_from("<I", data, pos + 4)[0]
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            pos += 12
            if kind in _PER_ITEM:
                pos += _PER_ITEM[kind] * vlen
            elif kind in _FIXED_EXTRA:
                pos += _FIXED_EXTRA[kind]
            elif kind not in _ALIASES and kind not in (PTR, FWD, FUNC, FLOAT):
                raise BtfError(f"unknown BTF kind {kind} at type {len(positions) - 1}")
        return cls(data, positions, hdr_len + str_off, str_len)

    def _name(self, off: int) -> str:
        start = self._strings_at + off
        return self.data[start : self.data.index(b"\0", start)].decode()

    def _record(self, type_id: int) -> tuple[int, int, int, int, int]:
        """(kind, vlen, kind_flag, name offset, size or referenced type) of a type."""
        if type_id == 0:
            return (0, 0, 0, 0, 0)
        name_off, info, ref = struct.unpack_from("<III", self.data, self.positions[type_id])
        return (info >> 24) & 0x1F, info & 0xFFFF, info >> 31, name_off, ref

    def _members(self, type_id: int) -> list[tuple[str, int, int]]:
        """(name, type id, bit offset) of each member of a struct or union."""
        kind, vlen, kind_flag, _, _ = self._record(type_id)
        if kind not in (STRUCT, UNION):
            return []
        at = self.positions[type_id] + 12
        out = []
        for m_name, m_type, m_off in struct.iter_unpack("<III", self.data[at : at + 12 * vlen]):
            # With kind_flag the high 8 bits hold a bitfield size; the rest is the offset.
            out.append((self._name(m_name), m_type, m_off & 0xFFFFFF if kind_flag else m_off))
        return out

    def _struct_id(self, name: str) -> int | None:
        if self._structs is None:
            self._structs = {}
            for type_id in range(1, len(self.positions)):
                kind, _, _, name_off, _ = self._record(type_id)
                if kind == STRUCT and name_off:
                    self._structs.setdefault(self._name(name_off), type_id)
        return self._structs.get(name)

    def _resolve(self, type_id: int) -> int:
        while True:
            kind, _, _, _, ref = self._record(type_id)
            if kind not in _ALIASES:
                return type_id
            type_id = ref

    def _find(self, type_id: int, field: str) -> tuple[int, int] | None:
        """(bit offset, member type id) of field in a struct/union, looking through anonymous
        members (sk_buff keeps ``dev`` inside unnamed unions)."""
        for name, member_type, bit_offset in self._members(self._resolve(type_id)):
            if name == field:
                return bit_offset, member_type
            if not name:
                inner = self._find(member_type, field)
                if inner is not None:
                    return bit_offset + inner[0], inner[1]
        return None

    def offset(self, path: str) -> int:
        """Byte offset of ``struct.field.field...`` from the start of the struct."""
        struct_name, *fields = path.split(".")
        type_id = self._struct_id(struct_name)
        if type_id is None:
            raise BtfError(f"struct {struct_name} not in kernel BTF")
        bits = 0
        for field in fields:
            found = self._find(type_id, field)
            if found is None:
                raise BtfError(f"{path}: no field {field!r}")
            bits, type_id = bits + found[0], found[1]
        if bits % 8:
            raise BtfError(f"{path} is a bitfield")
        return bits // 8


def kernel_btf() -> Btf:
    try:
        return Btf.parse(VMLINUX_BTF.read_bytes())
    except OSError as exc:
        raise BtfError(f"cannot read {VMLINUX_BTF}: {exc.strerror}") from exc


@functools.cache
def _kernel_offsets(paths: tuple[tuple[str, str], ...]) -> tuple[tuple[str, int], ...]:
    from ebpf.compiled_cache import default_cache

    cache = default_cache()
    key = _offsets_key(paths)
    kept = cache.get(key) if cache is not None and key else None
    offsets = kept.get("offsets") if kept is not None else None
    if isinstance(offsets, list) and _well_formed(offsets, paths):
        return tuple((define, offset) for define, offset in offsets)
    btf = kernel_btf()
    found = tuple((define, btf.offset(path)) for define, path in paths)
    if cache is not None and key:
        cache.put(key, {"offsets": [list(pair) for pair in found]})
    return found


def _offsets_key(paths: tuple[tuple[str, str], ...]) -> str:
    """What the offsets depend on: the paths asked for and the running kernel's BTF."""
    try:
        size = VMLINUX_BTF.stat().st_size
    except OSError:
        return ""
    from ebpf.compiled_cache import running_kernel

    header = {
        "kind": "btf offsets", "paths": [list(p) for p in paths], "btf_size": size,
        "kernel": running_kernel(),
    }  # fmt: skip
    return hashlib.sha256(json.dumps(header, sort_keys=True).encode()).hexdigest()


def _well_formed(offsets: list[object], paths: tuple[tuple[str, str], ...]) -> bool:
    # Only what this process would have computed: the same defines, each a plain offset.
    return len(offsets) == len(paths) and all(
        isinstance(pair, list)
        and len(pair) == 2
        and pair[0] == define
        and type(pair[1]) is int
        and 0 <= pair[1] < 1 << 16
        for pair, (define, _) in zip(offsets, paths, strict=True)
    )


def kernel_offsets(paths: dict[str, str]) -> dict[str, int]:
    """``{define: byte offset}`` of each field path in the running kernel, parsed once per
    set of paths and process; the parse itself is dropped."""
    return dict(_kernel_offsets(tuple(paths.items())))
