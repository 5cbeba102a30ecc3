"""eBPF collectors an agent compiles once and keeps between runs.

Compiling a program is what makes a collector slow to start (bcc runs clang: about half a
second per program, several seconds for a drill's collectors on three hosts, all of it before
the first fault). The scope of a run is only a few map entries. So an agent process keeps one
program per collector name: a run takes it (``take``), which empties its maps, writes the
run's scope and attaches its tracepoints; the end of the run gives it back (``give_back``),
which detaches them, so a kept program costs the traced events nothing until the next run.

One run at a time uses a kept program. A second run on the same host while the first still
holds it gets a program of its own, compiled as before (a read drains the maps, so two runs
cannot share one); it is kept in turn only if none is kept yet. A collector whose scope needs
other cflags than the kept program's (a filter it was compiled without) is compiled anew too.
/proc fallbacks cost nothing to open and are never kept.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ebpf.bcc_collector import BccCollector
from ebpf.collector import Collector, Scope
from ebpf.registry import open_collector

log = logging.getLogger(__name__)

Opener = Callable[[str, Scope], tuple[Collector, str]]


class WarmCollectors:
    def __init__(self, opener: Opener | None = None) -> None:
        self._opener = opener
        self._kept: dict[str, BccCollector] = {}
        self._lock = threading.Lock()

    def take(self, name: str, scope: Scope) -> tuple[Collector, str]:
        """The named collector, attached to ``scope``, and why this source (as
        ``registry.open_collector`` says it): a kept program when one is free and fits."""
        with self._lock:
            kept = self._kept.pop(name, None)
        if kept is not None:
            try:
                if kept.resume(scope):
                    return kept, f"eBPF: {type(kept).__module__}:{type(kept).__name__} attached"
            except Exception:
                log.exception("kept collector %s could not take up a new scope", name)
            _close(kept)
        return (self._opener or open_collector)(name, scope)

    def give_back(self, collector: Collector) -> None:
        """Keep an eBPF collector, paused, for the next run; close anything else."""
        if not isinstance(collector, BccCollector):
            _close(collector)
            return
        try:
            collector.pause()
        except Exception:
            log.exception("collector %s could not be paused; closing it", collector.name)
            _close(collector)
            return
        with self._lock:
            if collector.name not in self._kept:
                self._kept[collector.name] = collector
                return
        _close(collector)  # one kept per name is enough

    def kept(self) -> list[str]:
        with self._lock:
            return sorted(self._kept)

    def close(self) -> None:
        with self._lock:
            kept, self._kept = list(self._kept.values()), {}
        for collector in kept:
            _close(collector)


def _close(collector: Collector) -> None:
    try:
        collector.close()
    except Exception:
        log.exception("collector %s failed to close", collector.name)
