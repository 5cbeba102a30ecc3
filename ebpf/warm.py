"""eBPF collectors an agent compiles once and keeps, shared by the runs that watch the same
scope at once and kept between runs.

Compiling a program is what makes a collector slow to start (bcc runs clang: about half a
second per program, several seconds for a drill's collectors on three hosts, all of it before
the first fault). The scope of a run is only a few map entries. So an agent process keeps one
program per collector name and scope:

- a run takes it (``take``); the first run empties its maps, writes its scope and attaches its
  tracepoints (``BccCollector.resume``);
- a run that starts while others hold a program with the same scope (the same namespaces,
  pids or cgroups, as concurrent drills on one host have) joins it: it gets a view
  (``SharedView``). Whichever view reads drains the program's maps once and hands each view
  its share, so every run sees every event since it joined, and counts add up as if each had
  a program of its own;
- the end of the last run that holds it (``give_back``) detaches its tracepoints, so a kept
  program costs the traced events nothing until the next run.

A run whose scope differs from every program in use gets a program of its own, compiled as
before, and so does a collector whose scope needs other cflags than a kept program's (a filter
it was compiled without). /proc fallbacks cost nothing to open and are never kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ebpf.bcc_collector import BccCollector
from ebpf.collector import Collector, KernelSample, Scope, Source
from ebpf.registry import open_collector

log = logging.getLogger(__name__)

Opener = Callable[[str, Scope], tuple[Collector, str]]


class SharedView:
    """One run's share of a program in use: a Collector whose reads return what the program
    counted since this view's last read (or since it joined)."""

    source = Source.EBPF

    def __init__(self, program: SharedProgram) -> None:
        self.program = program
        self.name = program.collector.name
        self.pending: list[KernelSample] = []

    def attach(self) -> None:
        return None  # the program is attached while any view holds it

    def read(self, now: float) -> list[KernelSample]:
        return self.program.read_for(self, now)

    def close(self) -> None:
        self.program.leave(self)


class SharedProgram:
    """A kept program and the views of the runs that hold it."""

    def __init__(self, collector: BccCollector) -> None:
        self.collector = collector
        self.views: list[SharedView] = []
        self._lock = threading.Lock()

    def join(self) -> SharedView:
        view = SharedView(self)
        with self._lock:
            if self.views:
                # Events so far belong to the views already here, not to the newcomer.
                self._drain(time.time())
            self.views.append(view)
        return view

    def leave(self, view: SharedView) -> int:
        """Remove ``view``; how many views are left."""
        with self._lock:
            if view in self.views:
                self.views.remove(view)
            return len(self.views)

    def read_for(self, view: SharedView, now: float) -> list[KernelSample]:
        with self._lock:
            if view not in self.views:
                return []
            self._drain(now)
            pending, view.pending = view.pending, []
        return merged(pending, now)

    def _drain(self, now: float) -> None:
        samples = self.collector.read(now)
        for view in self.views:
            view.pending.extend(samples)
            if len(view.pending) > _MERGE_AT:  # a view nobody reads stays small
                view.pending = merged(view.pending, now)


# A view's unread samples are folded together beyond this many.
_MERGE_AT = 256


def merged(samples: list[KernelSample], t: float) -> list[KernelSample]:
    """Samples of several intervals as one interval ending at ``t``, per metric and labels:
    counts add up; a latency (a sample with buckets) is the count-weighted mean, with its
    buckets added up."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[KernelSample]] = {}
    for sample in samples:
        groups.setdefault((sample.metric, tuple(sorted(sample.labels.items()))), []).append(sample)
    out = []
    for (metric, _), group in groups.items():
        count = sum(s.count for s in group)
        if any(s.buckets for s in group):
            buckets: dict[float, int] = {}
            for s in group:
                for bound, n in s.buckets.items():
                    buckets[bound] = buckets.get(bound, 0) + n
            value = sum(s.value * s.count for s in group) / count if count else 0.0
        else:
            buckets, value = {}, sum(s.value for s in group)
        first = group[0]
        out.append(KernelSample(t, metric, value, first.source, count=count, buckets=buckets,
                                labels=dict(first.labels)))  # fmt: skip
    return out


class WarmCollectors:
    def __init__(self, opener: Opener | None = None) -> None:
        self._opener = opener
        self._kept: dict[str, BccCollector] = {}
        self._in_use: dict[str, list[SharedProgram]] = {}
        self._lock = threading.Lock()
        # One compile at a time: a second run with the same scope waits, then joins.
        self._opening = threading.Lock()

    def take(self, name: str, scope: Scope) -> tuple[Collector, str]:
        """The named collector, attached to ``scope``, and why this source (as
        ``registry.open_collector`` says it): a share of a program in use with this scope, a
        kept program when one is free and fits, else a newly compiled one."""
        with self._opening:
            joined = self._join(name, scope)
            if joined is not None:
                return joined
            with self._lock:
                kept = self._kept.pop(name, None)
            if kept is not None:
                try:
                    if kept.resume(scope):
                        return self._share(kept), f"eBPF: {_kind(kept)} attached"
                except Exception:
                    log.exception("kept collector %s could not take up a new scope", name)
                _close(kept)
            collector, reason = (self._opener or open_collector)(name, scope)
            if isinstance(collector, BccCollector):
                return self._share(collector), reason
            return collector, reason

    def _join(self, name: str, scope: Scope) -> tuple[Collector, str] | None:
        with self._lock:
            for program in self._in_use.get(name, []):
                if program.collector.scope == scope:
                    others = len(program.views)
                    runs = "run" if others == 1 else "runs"
                    kind = _kind(program.collector)
                    return (
                        program.join(),
                        f"eBPF: {kind} attached, shared with {others} other {runs}",
                    )
        return None

    def _share(self, collector: BccCollector) -> SharedView:
        program = SharedProgram(collector)
        view = program.join()
        with self._lock:
            self._in_use.setdefault(collector.name, []).append(program)
        return view

    def give_back(self, collector: Collector) -> None:
        """A run is done with ``collector``: the last run of a shared program pauses it and
        keeps it for the next run; anything else is closed."""
        if not isinstance(collector, SharedView):
            _close(collector)
            return
        program = collector.program
        with self._lock:
            if program.leave(collector):
                return  # other runs still hold it
            users = self._in_use.get(program.collector.name, [])
            if program in users:
                users.remove(program)
        kept = program.collector
        try:
            kept.pause()
        except Exception:
            log.exception("collector %s could not be paused; closing it", kept.name)
            _close(kept)
            return
        with self._lock:
            if kept.name not in self._kept:
                self._kept[kept.name] = kept
                return
        _close(kept)  # one kept per name is enough

    def kept(self) -> list[str]:
        with self._lock:
            return sorted(self._kept)

    def in_use(self) -> dict[str, list[int]]:
        """Per collector name, how many runs hold each program in use."""
        with self._lock:
            return {n: [len(p.views) for p in ps] for n, ps in self._in_use.items() if ps}

    def close(self) -> None:
        with self._lock:
            kept, self._kept = list(self._kept.values()), {}
            kept += [p.collector for ps in self._in_use.values() for p in ps]
            self._in_use = {}
        for collector in kept:
            _close(collector)


def _kind(collector: BccCollector) -> str:
    return f"{type(collector).__module__}:{type(collector).__name__}"


def _close(collector: Collector) -> None:
    try:
        collector.close()
    except Exception:
        log.exception("collector %s failed to close", collector.name)
