"""The one map from a playbook collector name to its eBPF class and its /proc fallback.

Classes are named by dotted path ("module:Class") and imported on first use, so a host without
bcc, or a collector module not written yet, costs nothing until that collector is asked for;
an import failure becomes CollectorUnavailable with the reason. Every class is built as
``Cls(scope)``.

``DRILLHALL_EBPF`` picks the source: ``auto`` (default: eBPF, else /proc), ``off`` (/proc only)
or ``on`` (eBPF only, no fallback). Anything else is an error, not a silent default.
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass

from ebpf.capabilities import Capability, check_ebpf
from ebpf.collector import Collector, CollectorUnavailable, Scope, Source

# name -> (eBPF class, /proc fallback class or None when /proc has no equivalent)
COLLECTORS: dict[str, tuple[str, str | None]] = {
    "tcp_retransmits": ("ebpf.tcp:TcpRetransmits", "ebpf.fallback.netstat:ProcTcpRetransmits"),
    "tcp_resets": ("ebpf.tcp:TcpResets", "ebpf.fallback.netstat:ProcTcpResets"),
    "tcp_connect": ("ebpf.tcp:TcpConnect", "ebpf.fallback.netstat:ProcTcpConnect"),
    "block_io_latency": (
        "ebpf.blockio:BlockIoLatency",
        "ebpf.fallback.diskstats:ProcBlockIoLatency",
    ),
    "syscall_latency": ("ebpf.syscalls:SyscallLatency", None),
    "runqueue_latency": (
        "ebpf.runqueue:RunqueueLatency",
        "ebpf.fallback.schedstat:ProcRunqueueLatency",
    ),
}
ENV = "DRILLHALL_EBPF"
ENV_FIX = f"unset {ENV} (or set it to auto) to use eBPF"


class SettingError(ValueError):
    pass


def ebpf_setting() -> bool | None:
    """DRILLHALL_EBPF as True (eBPF only), False (/proc only) or None (auto)."""
    raw = os.environ.get(ENV, "")
    value = raw.strip().lower()
    if value in {"", "auto"}:
        return None
    if value in {"on", "1", "true", "yes"}:
        return True
    if value in {"off", "0", "false", "no"}:
        return False
    raise SettingError(f"{ENV}={raw!r}: expected auto, on or off")


@functools.cache
def ebpf_capability() -> Capability:
    """check_ebpf() once per process: it compiles a probe in a child, about a second."""
    return check_ebpf()


def _known(name: str) -> tuple[str, str | None]:
    try:
        return COLLECTORS[name]
    except KeyError:
        known = ", ".join(COLLECTORS)
        raise KeyError(f"unknown kernel collector {name!r}; known collectors: {known}") from None


def load_class(path: str) -> type:
    """The class at "module:Class", or CollectorUnavailable saying why it cannot be loaded."""
    module_name, _, attr = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        raise CollectorUnavailable(f"{path} cannot be imported: {exc}") from exc
    except AttributeError:
        raise CollectorUnavailable(f"{path}: module {module_name} has no {attr}") from None
    if not isinstance(cls, type):
        raise CollectorUnavailable(f"{path} is not a class")
    return cls


def _attached(path: str, scope: Scope) -> Collector:
    collector: Collector = load_class(path)(scope)
    collector.attach()
    return collector


def _why_not_ebpf(error: str) -> str:
    cap = ebpf_capability()
    if cap.ok:
        return error
    return f"{error}; {cap.detail} (fix: {cap.fix})"


def open_collector(name: str, scope: Scope, *, ebpf: bool | None = None) -> tuple[Collector, str]:
    """The named collector, attached, and why this source: eBPF when it can, else /proc.

    ``ebpf`` overrides DRILLHALL_EBPF: False means /proc only, True eBPF only.
    """
    ebpf_path, proc_path = _known(name)
    want = ebpf_setting() if ebpf is None else ebpf
    if want is False:
        why = f"{ENV}=off" if ebpf is None else "eBPF turned off by the caller"
    else:
        try:
            collector = _attached(ebpf_path, scope)
        except Exception as exc:  # CollectorUnavailable, or a bug in a loader: fall back
            why = _why_not_ebpf(str(exc) or type(exc).__name__)
            if want is True:
                raise CollectorUnavailable(f"{name}: eBPF required but unavailable: {why}") from exc
        else:
            return collector, f"eBPF: {ebpf_path} attached"
    if proc_path is None:
        raise CollectorUnavailable(f"{name}: no /proc fallback, and eBPF is not used: {why}")
    return _attached(proc_path, scope), f"fallback to /proc because {why}"


@dataclass(frozen=True)
class Choice:
    """Which source a collector would use here, without attaching it (for the doctor)."""

    name: str
    source: Source | None  # None: unavailable on this host
    why: str


def choices(ebpf_ok: bool, ebpf_why: str) -> list[Choice]:
    """For every collector: eBPF if eBPF works and its class imports, else its /proc class."""
    result = []
    for name, (ebpf_path, proc_path) in COLLECTORS.items():
        why = ebpf_why
        if ebpf_ok:
            try:
                load_class(ebpf_path)
            except CollectorUnavailable as exc:
                why = str(exc)
            else:
                result.append(Choice(name, Source.EBPF, ""))
                continue
        if proc_path is None:
            result.append(Choice(name, None, f"no /proc fallback; {why}"))
            continue
        try:
            load_class(proc_path)
        except CollectorUnavailable as exc:
            result.append(Choice(name, None, f"{why}; {exc}"))
        else:
            result.append(Choice(name, Source.PROC, why))
    return result
