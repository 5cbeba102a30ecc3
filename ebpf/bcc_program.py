"""One compiled bcc program: load it from its .bpf.c file, fill its scope maps, drain its maps.

Shared by the process and block collectors (syscalls, runqueue, blockio). bcc is imported
here, inside ``load``, never at module import: libbcc is heavy and absent on many hosts, and a
host without it must still be able to import the collectors to learn that they are
unavailable.

Scope maps are the convention of those programs: ``scope_pids`` (tgid -> 1) and
``scope_cgroups`` (cgroup v2 id -> 1), switched on by ``-DFILTER_PIDS=1`` /
``-DFILTER_CGROUPS=1`` so that an empty scope compiles to no check at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ebpf.collector import CollectorUnavailable, Scope

SETUP_FIX = "run `make setup` as root (scripts/setup.sh)"


def load(source: Path, tracepoints: Iterable[tuple[str, str]], cflags: Iterable[str]) -> Any:
    """Compile and attach source (its TRACEPOINT_PROBEs attach on load); the bcc BPF object.

    Raises CollectorUnavailable saying what is missing: bcc, root, a tracepoint, a compile.
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
    try:
        return BPF(src_file=str(source).encode(), cflags=list(cflags))
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


def fill_scope(bpf: Any, scope: Scope) -> None:
    """Write the scope's pids and cgroup ids into the program's scope maps."""
    for name, members in (("scope_pids", scope.pids), ("scope_cgroups", scope.cgroup_ids)):
        if not members:
            continue
        table = bpf[name.encode()]
        for member in members:
            table[table.Key(member)] = table.Leaf(1)


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
