"""The attach / pause / resume / close half of every eBPF collector: one bcc program, loaded
and scoped.

A subclass names its program, tracepoints and maps, may change the cflags and how the scope
is written into the maps (the defaults are the process programs' scope.bpf.h convention), and
writes ``read``. bcc is never imported here: a short-lived child compiles the program and
hands over its descriptors (ebpf/compile_child.py, ebpf/loaded_program.py).

Compiling is what costs (about half a second of clang per program); scoping is writing a few
map entries. So an agent keeps a program between runs (``ebpf.warm``): ``pause`` detaches its
tracepoints, after which it costs the traced events nothing, and ``resume`` empties its maps,
writes the next run's scope and attaches them again, without compiling.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from ebpf import bcc_program
from ebpf.collector import KernelSample, Scope, Source
from ebpf.loaded_program import function_name


class BccCollector:
    name: str  # an instance attribute to the Collector protocol; set per subclass
    source = Source.EBPF
    program: ClassVar[Path]
    tracepoints: Sequence[tuple[str, str]]
    # Whether the program's probes are RAW_TRACEPOINT_PROBEs (their arguments are the
    # tracepoint's own C arguments, read through BTF offsets): pausing one is a close that
    # returns at once, where a tracepoint's close waits for the kernel's grace period.
    raw_tracepoints: ClassVar[bool] = False
    # Every map of the program: emptied when a kept program takes up another run, so nothing
    # of the last run (counts, calls in flight, its scope) carries over.
    maps: ClassVar[tuple[bytes, ...]]

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._bpf: Any = None
        self._cflags: list[str] = []

    def read(self, now: float) -> list[KernelSample]:
        raise NotImplementedError

    def cflags(self) -> list[str]:
        return bcc_program.scope_cflags(self.scope)

    def fill(self, bpf: Any) -> None:
        """Write the scope into the freshly loaded program's maps."""
        bcc_program.fill_scope(bpf, self.scope)

    def attach(self) -> None:
        if self._bpf is not None:
            return  # already attached: one program per collector
        bcc_program.check_loadable(self.tracepoints)
        cflags = self.cflags()
        bpf = bcc_program.load_program(
            self.program, cflags, self.tracepoints, self.maps, raw=self.raw_tracepoints
        )
        try:
            self.fill(bpf)
        except Exception:
            bpf.cleanup()  # do not leave a program attached that nothing will close
            raise
        self._bpf, self._cflags = bpf, cflags

    def _tracepoint_names(self) -> list[bytes]:
        return [f"{category}:{event}".encode() for category, event in self.tracepoints]

    def pause(self) -> None:
        """Detach every tracepoint: the program stays loaded, and costs nothing until resumed."""
        if self._bpf is None:
            return
        for tp in self._tracepoint_names():
            if tp in self._bpf.tracepoint_fds:
                self._bpf.detach_tracepoint(tp)

    def resume(self, scope: Scope) -> bool:
        """Take up a new scope without compiling: False (and nothing changed) when the scope
        needs other cflags, such as a filter the program was compiled without."""
        if self._bpf is None:
            return False
        previous, self.scope = self.scope, scope
        if self.cflags() != self._cflags:
            self.scope = previous
            return False
        self.pause()  # no event lands while the maps are emptied and refilled
        for name in self.maps:
            self._bpf[name].clear()
        self.fill(self._bpf)
        for category, event in self.tracepoints:
            fn = function_name(category, event, self.raw_tracepoints)
            self._bpf.attach_tracepoint(tp=f"{category}:{event}".encode(), fn_name=fn.encode())
        return True

    def close(self) -> None:
        bpf, self._bpf = self._bpf, None
        if bpf is not None:
            bpf.cleanup()
