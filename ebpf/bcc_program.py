"""One compiled bcc program: load it from its .bpf.c file, fill its scope maps, drain its maps.

Shared by every eBPF collector (syscalls, runqueue, blockio, tcp). bcc is imported here, inside
``bpf_class``, never at module import: libbcc is heavy and absent on many hosts, and a host
without it must still be able to import the collectors to learn that they are unavailable.

Scope maps are the convention of the process programs (scope.bpf.h): ``scope_pids``
(tgid -> 1) and ``scope_cgroups`` (cgroup v2 id -> 1), switched on by ``-DFILTER_PIDS=1`` /
``-DFILTER_CGROUPS=1`` so that an empty scope compiles to no check at all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ebpf.collector import CollectorUnavailable, Scope
from ebpf.log2_hist import LatencyTotals

SETUP_FIX = "run `make setup` as root (scripts/setup.sh)"
LOCAL_INCLUDE = re.compile(r'^#include "(\w+\.bpf\.h)"$', re.MULTILINE)


def bpf_class(tracepoints: Iterable[tuple[str, str]]) -> Any:
    """bcc's BPF class, once bcc imports, we are root and every tracepoint exists.

    Raises CollectorUnavailable saying which of those is missing. Kept apart from
    ``compile_program`` so that a loader works out its cflags (tcp reads BTF) after these checks.
    """
    try:
        from bcc import BPF
    except Exception as exc:  # ImportError, or OSError when libbcc itself is missing
        raise CollectorUnavailable(
            f"bcc is not importable ({type(exc).__name__}: {exc}); {SETUP_FIX}"
        ) from exc
    if os.geteuid() != 0:
        raise CollectorUnavailable("loading eBPF programs needs root")
    for category, event in tracepoints:
        if not BPF.tracepoint_exists(category, event):
            raise CollectorUnavailable(
                f"tracepoint {category}:{event} not found (is debugfs mounted?); {SETUP_FIX}"
            )
    return BPF


def check_loadable(tracepoints: Iterable[tuple[str, str]]) -> None:
    """Raise CollectorUnavailable unless we are root and every tracepoint exists; bcc itself
    is only imported by the compiler child (``load_program``)."""
    from ebpf.bpf_syscalls import tracepoint_exists

    if os.geteuid() != 0:
        raise CollectorUnavailable("loading eBPF programs needs root")
    for category, event in tracepoints:
        if not tracepoint_exists(category, event):
            raise CollectorUnavailable(
                f"tracepoint {category}:{event} not found (is debugfs mounted?); {SETUP_FIX}"
            )


def load_program(
    source: Path, cflags: Iterable[str], tracepoints: Sequence[tuple[str, str]],
    maps: Sequence[bytes], raw: bool = False,
) -> Any:  # fmt: skip
    """Compile source in a short-lived child and attach its tracepoints here (a
    ``loaded_program.LoadedProgram``), as raw tracepoints with ``raw``: this process never
    loads clang or LLVM."""
    from ebpf.loaded_program import load

    try:
        return load(source, list(cflags), tracepoints, [m.decode() for m in maps], raw)
    except CollectorUnavailable as exc:
        raise CollectorUnavailable(f"{exc}; {SETUP_FIX}") from exc


def program_text(source: Path) -> bytes:
    """The text of source with each ``#include "NAME.bpf.h"`` line replaced by that header.

    bcc rewrites map calls (``table.lookup(&key)``) only in the main file it compiles: in an
    included header they stay as written and the program fails to load ("unknown opcode").
    So the shared headers beside the programs are spliced in here, and bcc sees one file.
    """
    return LOCAL_INCLUDE.sub(
        lambda include: (source.parent / include[1]).read_text(), source.read_text()
    ).encode()


def compile_program(bpf_type: Any, source: Path, cflags: Iterable[str]) -> Any:
    """Compile and attach source (its TRACEPOINT_PROBEs attach on load); the bcc BPF object."""
    try:
        return bpf_type(text=program_text(source), cflags=list(cflags))
    except Exception as exc:  # bcc raises plain Exception on a failed compile or load
        raise CollectorUnavailable(
            f"{source.name} did not compile or load ({exc}); {SETUP_FIX}"
        ) from exc


def scope_cflags(scope: Scope) -> list[str]:
    flags = []
    if scope.pids:
        flags.append("-DFILTER_PIDS=1")
    if scope.cgroup_ids:
        flags.append("-DFILTER_CGROUPS=1")
    return flags


def fill_set(table: Any, members: Iterable[int]) -> None:
    """Write members into a map used as a set (key -> 1), as the programs' scope maps are."""
    for member in members:
        table[table.Key(member)] = table.Leaf(1)


def fill_scope(bpf: Any, scope: Scope) -> None:
    """Write the scope's pids and cgroup ids into the program's scope maps."""
    for name, members in ((b"scope_pids", scope.pids), (b"scope_cgroups", scope.cgroup_ids)):
        if members:
            fill_set(bpf[name], members)


def drain(table: Any) -> Iterator[tuple[Any, Any]]:
    """Every (key, value) of a hash map, removing each as it is read.

    Lookup-and-delete in batches takes each entry out as it is read, so an event landing
    during the read is kept for the next interval instead of being wiped by a later clear().
    Kernels before 5.6 lack the batch call: read everything, then clear.
    """
    try:
        items = list(table.items_lookup_and_delete_batch())
    except Exception:  # bcc raises plain Exception when the kernel refuses the batch call
        items = list(table.items())
        table.clear()
    return iter(items)


def number(value: Any) -> int:
    """A map key or value of a scalar type as an int (batch reads give ints, items() c_types)."""
    return int(getattr(value, "value", value))


def drain_latency(bpf: Any) -> LatencyTotals:
    """The interval's latency of a program with one series (latency.bpf.h: totals[0], hist)."""
    summary = LatencyTotals()
    for _, total in drain(bpf[b"totals"]):
        summary.count, summary.sum_ns = total.count, total.sum_ns
    for slot, n in drain(bpf[b"hist"]):
        summary.add_slot(number(slot), number(n))
    return summary
