"""The few bpf() and perf_event_open() calls an agent needs once its programs are compiled.

bcc compiles with clang and LLVM, and a process that has loaded them keeps 150 MiB or more of
them (docs/performance.md). An agent does not need them after compiling: a short-lived child
compiles (``ebpf.compile_child``) and hands over the program and map file descriptors, and the
agent uses them through the kernel's own interface, here, with ctypes and no library:

- maps: look up, update, delete, walk keys, and take out (look up and delete) one entry;
- tracepoints: open the tracepoint's perf event, attach the program to it, enable it; closing
  that descriptor detaches the program;
- raw tracepoints: open one for the program by the tracepoint's name; closing that descriptor
  detaches it. That returns at once, where closing a tracepoint's perf event waits for the
  kernel's tracepoint grace period (bench/tracepoint_detach.py: four tracepoints 121-134 ms,
  the same four as raw tracepoints 0.2-0.9 ms; docs/ebpf.md);
- for programs loaded again from their compiled instructions (``ebpf.compiled_cache``):
  describe a map, create one like it, and load a program.

x86_64 and aarch64 system call numbers; the structures are the kernel's ABI (linux/bpf.h,
linux/perf_event.h), which only ever grows at the end.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

_SYSCALLS = {"x86_64": (321, 298), "aarch64": (280, 241)}  # (bpf, perf_event_open)
SYS_BPF, SYS_PERF_EVENT_OPEN = _SYSCALLS.get(platform.machine(), (321, 298))

BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_MAP_GET_NEXT_KEY = 4
BPF_MAP_LOOKUP_AND_DELETE_ELEM = 21
BPF_MAP_CREATE = 0
BPF_PROG_LOAD = 5
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_RAW_TRACEPOINT_OPEN = 17
BPF_PROG_TYPE_TRACEPOINT = 5
BPF_PROG_TYPE_RAW_TRACEPOINT = 17

PERF_TYPE_TRACEPOINT = 2
PERF_SAMPLE_RAW = 1 << 10
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_SET_BPF = 0x40042408

ENOTSUPP = 524  # the kernel's own "operation not supported" (not in errno)
TRACEFS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))


class _MapElemAttr(ctypes.Structure):
    _fields_ = [
        ("map_fd", ctypes.c_uint32),
        ("pad", ctypes.c_uint32),
        ("key", ctypes.c_uint64),
        ("value", ctypes.c_uint64),  # or next_key
        ("flags", ctypes.c_uint64),
    ]


class _MapCreateAttr(ctypes.Structure):
    _fields_ = [
        ("map_type", ctypes.c_uint32),
        ("key_size", ctypes.c_uint32),
        ("value_size", ctypes.c_uint32),
        ("max_entries", ctypes.c_uint32),
        ("map_flags", ctypes.c_uint32),
        ("inner_map_fd", ctypes.c_uint32),
        ("numa_node", ctypes.c_uint32),
        ("map_name", ctypes.c_char * 16),
        ("rest", ctypes.c_uint8 * 32),  # ifindex, BTF ids, map_extra: none here
    ]


class _ProgLoadAttr(ctypes.Structure):
    _fields_ = [
        ("prog_type", ctypes.c_uint32),
        ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64),
        ("license", ctypes.c_uint64),
        ("log_level", ctypes.c_uint32),
        ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_uint64),
        ("kern_version", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32),
        ("prog_name", ctypes.c_char * 16),
        ("rest", ctypes.c_uint8 * 64),  # ifindex, attach types, BTF: none for a tracepoint
    ]


class _RawTracepointAttr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_uint64), ("prog_fd", ctypes.c_uint32),
                ("pad", ctypes.c_uint32), ("cookie", ctypes.c_uint64)]  # fmt: skip


class _InfoAttr(ctypes.Structure):
    _fields_ = [("bpf_fd", ctypes.c_uint32), ("info_len", ctypes.c_uint32),
                ("info", ctypes.c_uint64)]  # fmt: skip


class MapInfo(ctypes.Structure):
    """The head of the kernel's ``struct bpf_map_info``: what a like map is created from."""

    _fields_ = [
        ("type", ctypes.c_uint32),
        ("id", ctypes.c_uint32),
        ("key_size", ctypes.c_uint32),
        ("value_size", ctypes.c_uint32),
        ("max_entries", ctypes.c_uint32),
        ("map_flags", ctypes.c_uint32),
        ("name", ctypes.c_char * 16),
    ]


class _PerfEventAttr(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_uint32),
        ("size", ctypes.c_uint32),
        ("config", ctypes.c_uint64),
        ("sample_period", ctypes.c_uint64),
        ("sample_type", ctypes.c_uint64),
        ("read_format", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),  # bit 0: disabled
        ("wakeup_events", ctypes.c_uint32),
        ("rest", ctypes.c_uint8 * 84),  # to PERF_ATTR_SIZE_VER5 (112 bytes) and beyond
    ]


def _call(number: int, *args: object) -> int:
    result = _libc.syscall(number, *args)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return int(result)


def _bpf(command: int, attr: ctypes.Structure) -> int:
    return _call(SYS_BPF, command, ctypes.byref(attr), ctypes.sizeof(attr))


def _address(buffer: ctypes._CData | None) -> int:
    return 0 if buffer is None else ctypes.addressof(buffer)


def _found(command: int, fd: int, key: ctypes._CData | None, value: ctypes._CData | None) -> bool:
    """Run a map command on ``key`` (and ``value``); False when the kernel says "no entry"."""
    try:
        _bpf(command, _MapElemAttr(map_fd=fd, key=_address(key), value=_address(value)))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    return True


def map_lookup(fd: int, key: ctypes._CData, value: ctypes._CData) -> bool:
    """Fill ``value`` with the entry of ``key``; False when there is none."""
    return _found(BPF_MAP_LOOKUP_ELEM, fd, key, value)


def map_update(fd: int, key: ctypes._CData, value: ctypes._CData) -> None:
    _bpf(BPF_MAP_UPDATE_ELEM, _MapElemAttr(map_fd=fd, key=_address(key), value=_address(value)))


def map_delete(fd: int, key: ctypes._CData) -> bool:
    return _found(BPF_MAP_DELETE_ELEM, fd, key, None)


def map_next_key(fd: int, key: ctypes._CData | None, next_key: ctypes._CData) -> bool:
    """The key after ``key`` (the first with None) into ``next_key``; False at the end."""
    return _found(BPF_MAP_GET_NEXT_KEY, fd, key, next_key)


def map_take(fd: int, key: ctypes._CData, value: ctypes._CData) -> bool:
    """Look up and delete ``key`` in one step (hash maps, Linux 5.14 and later): an event
    that lands just after is a new entry, never lost between a read and a delete."""
    attr = _MapElemAttr(map_fd=fd, key=_address(key), value=_address(value))
    try:
        _bpf(BPF_MAP_LOOKUP_AND_DELETE_ELEM, attr)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        if exc.errno not in (errno.EINVAL, ENOTSUPP):
            raise
        # An older kernel: read, then delete.
        if not map_lookup(fd, key, value):
            return False
        map_delete(fd, key)
    return True


def map_info(fd: int) -> MapInfo:
    info = MapInfo()
    _bpf(BPF_OBJ_GET_INFO_BY_FD, _InfoAttr(fd, ctypes.sizeof(info), ctypes.addressof(info)))
    return info


def map_create(info: MapInfo) -> int:
    """A new, empty map of ``info``'s type, sizes and flags; its descriptor."""
    attr = _MapCreateAttr(
        map_type=info.type, key_size=info.key_size, value_size=info.value_size,
        max_entries=info.max_entries, map_flags=info.map_flags, map_name=info.name,
    )  # fmt: skip
    return _bpf(BPF_MAP_CREATE, attr)


RAW_TRACEPOINT_PREFIX = "raw_tracepoint__"


def program_type(function: str) -> int:
    """The program type of a probe function by the name bcc gives it: a
    RAW_TRACEPOINT_PROBE(event) is ``raw_tracepoint__event``, a TRACEPOINT_PROBE
    ``tracepoint__category__event``."""
    if function.startswith(RAW_TRACEPOINT_PREFIX):
        return BPF_PROG_TYPE_RAW_TRACEPOINT
    return BPF_PROG_TYPE_TRACEPOINT


def prog_load(
    insns: bytes, license: str, name: str = "", prog_type: int = BPF_PROG_TYPE_TRACEPOINT
) -> int:
    """Load a tracepoint (or raw tracepoint) program from its instructions (map references
    already holding this process's map descriptors); its descriptor. The verifier's refusal is
    an OSError."""
    code = ctypes.create_string_buffer(insns, len(insns))
    licence = ctypes.create_string_buffer(license.encode())
    attr = _ProgLoadAttr(
        prog_type=prog_type, insn_cnt=len(insns) // 8,
        insns=ctypes.addressof(code), license=ctypes.addressof(licence),
        prog_name=name.encode()[:15],
    )  # fmt: skip
    return _bpf(BPF_PROG_LOAD, attr)


def tracepoint_id(category: str, event: str) -> int:
    for root in TRACEFS:
        path = root / "events" / category / event / "id"
        if path.exists():
            return int(path.read_text())
    raise FileNotFoundError(f"tracepoint {category}:{event} not found in tracefs")


def tracepoint_exists(category: str, event: str) -> bool:
    return any((root / "events" / category / event).is_dir() for root in TRACEFS)


def attach_tracepoint(program_fd: int, category: str, event: str) -> int:
    """Run the program on every hit of the tracepoint; returns the perf event's descriptor,
    whose closing detaches it."""
    attr = _PerfEventAttr(
        type=PERF_TYPE_TRACEPOINT,
        size=ctypes.sizeof(_PerfEventAttr),
        config=tracepoint_id(category, event),
        sample_period=1,
        sample_type=PERF_SAMPLE_RAW,
        wakeup_events=1,
    )
    # pid -1, cpu 0: a tracepoint's program runs for every task on every CPU.
    fd = _call(SYS_PERF_EVENT_OPEN, ctypes.byref(attr), -1, 0, -1, PERF_FLAG_FD_CLOEXEC)
    try:
        _ioctl(fd, PERF_EVENT_IOC_SET_BPF, program_fd)
        _ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)
    except OSError:
        os.close(fd)
        raise
    return fd


def attach_raw_tracepoint(program_fd: int, event: str) -> int:
    """Run the raw tracepoint program on every hit of the tracepoint ``event``; returns the
    descriptor whose closing detaches it."""
    name = ctypes.create_string_buffer(event.encode())
    attr = _RawTracepointAttr(name=ctypes.addressof(name), prog_fd=program_fd)
    return _bpf(BPF_RAW_TRACEPOINT_OPEN, attr)


def _ioctl(fd: int, request: int, arg: int) -> None:
    if _libc.ioctl(fd, ctypes.c_ulong(request), ctypes.c_ulong(arg)) < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
