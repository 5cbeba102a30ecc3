"""The attach / close half of every eBPF collector: one bcc program, loaded and scoped.

A subclass names its program and tracepoints, may change the cflags and how the scope is
written into the maps (the defaults are the process programs' scope.bpf.h convention), and
writes ``read``. bcc itself is only imported on attach (see bcc_program).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from ebpf import bcc_program
from ebpf.collector import Scope, Source


class BccCollector:
    name: str  # an instance attribute to the Collector protocol; set per subclass
    source = Source.EBPF
    program: ClassVar[Path]
    tracepoints: Sequence[tuple[str, str]]

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._bpf: Any = None

    def cflags(self) -> list[str]:
        return bcc_program.scope_cflags(self.scope)

    def fill(self, bpf: Any) -> None:
        """Write the scope into the freshly loaded program's maps."""
        bcc_program.fill_scope(bpf, self.scope)

    def attach(self) -> None:
        if self._bpf is not None:
            return  # already attached: one program per collector
        bpf_type = bcc_program.bpf_class(self.tracepoints)
        bpf = bcc_program.compile_program(bpf_type, self.program, self.cflags())
        try:
            self.fill(bpf)
        except Exception:
            bpf.cleanup()  # do not leave a program attached that nothing will close
            raise
        self._bpf = bpf

    def close(self) -> None:
        bpf, self._bpf = self._bpf, None
        if bpf is not None:
            bpf.cleanup()
