"""The probe pool: every probe of a run sampling on its own schedule, samples handed to the run
loop through a queue so that all events come from the loop's one thread.

On a real clock each probe samples in a thread of its own: a slow probe (a 2 s timeout against
a partitioned host) must not delay the others or the loop. A probe ``from`` a host enters that
host's network namespace in its thread (setns moves only the calling thread).

On a clock that is not real time (``FakeClock``) no thread starts: each tick the run loop calls
``collect()``, which samples every probe that is due, there and then, and stamps the sample with
the clock's time. Why not threads: a thread waiting on virtual time would need a scheduler to
agree on when time may move on, and its samples would land on whichever tick it happened to
reach; sampling on the tick is deterministic and takes no real time, on the same schedule as
the threads keep (a probe faster than the tick samples once per tick).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Sequence

from drills.engine.clock import Clock
from drills.engine.plan import PlannedProbe
from ebpf.netns import enter_netns, run_in_netns
from verifier.probes.probe import Probe, ProbeConfigError, close_probe
from verifier.windows import Sample

ProbeBuilder = Callable[[PlannedProbe], Probe]


def build_probes(planned: Sequence[PlannedProbe], build: ProbeBuilder) -> dict[str, Probe]:
    """Every probe of the plan, built and its namespace tried, before any fault: a probe that
    cannot run would be a silent gap in the evidence. ValueError says what cannot run."""
    problems: list[str] = []
    probes: dict[str, Probe] = {}
    for spec in planned:
        try:
            probes[spec.name] = build(spec)
        except ProbeConfigError as exc:
            problems.append(str(exc))
            continue
        if spec.netns:
            try:
                run_in_netns(spec.netns, lambda: None, timeout=5)
            except OSError as exc:
                problems.append(
                    f"probe {spec.name} runs from host {spec.from_host}, but its "
                    f"network namespace cannot be entered from here: {exc}"
                )
    if problems:
        raise ValueError("; ".join(problems))
    return probes


class ProbePool:
    def __init__(
        self, planned: Sequence[PlannedProbe], probes: dict[str, Probe], clock: Clock
    ) -> None:
        self._planned = list(planned)
        self._probes = probes
        self._clock = clock
        self._samples: queue.Queue[Sample] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Stepped sampling (not real time): when each probe is next due, on clock.monotonic().
        self._due: dict[str, float] = {}

    def start(self) -> None:
        if not self._clock.realtime:
            now = self._clock.monotonic()
            self._due = {planned.name: now for planned in self._planned}
            return
        for planned in self._planned:
            thread = threading.Thread(
                target=self._loop,
                args=(self._probes[planned.name], planned.every, planned.netns),
                daemon=True,
                name=f"probe-{planned.name}",
            )
            thread.start()
            self._threads.append(thread)

    def collect(self) -> list[Sample]:
        """The samples taken since the last call, in the order they were taken."""
        if self._due and not self._stop.is_set():
            self._sample_due()
        out: list[Sample] = []
        while True:
            try:
                out.append(self._samples.get_nowait())
            except queue.Empty:
                return out

    def stop(self) -> list[Sample]:
        """Stop sampling; returns what the probes sampled up to now (the last samples count:
        RPO is measured after this, over exactly the writes the run's events show)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        if self._due:  # stepped: no thread closes them
            self._due = {}
            for probe in self._probes.values():
                close_probe(probe)
        return self.collect()

    def _sample_due(self) -> None:
        now = self._clock.monotonic()
        for planned in self._planned:
            next_at = self._due[planned.name]
            if next_at > now:
                continue
            probe = self._probes[planned.name]
            if not planned.netns:
                sample = probe.sample()
            else:  # on a thread of its own: the loop's thread must stay in its namespace
                try:
                    sample = run_in_netns(planned.netns, probe.sample, timeout=planned.timeout + 5)
                except OSError as exc:  # keep failing visibly rather than leave a silent gap
                    error = f"cannot sample from namespace {planned.netns}: {exc}"
                    sample = Sample(0.0, planned.name, False, error=error)
            # The probe stamped it with the system's time; the run's time is the clock's.
            self._samples.put(dataclasses.replace(sample, t=self._clock.now()))
            # Behind (a tick longer than the period): skip ahead instead of bursting.
            self._due[planned.name] = max(next_at + planned.every, now)

    def _loop(self, probe: Probe, every: float, netns: str = "") -> None:
        clock = self._clock
        next_at = clock.monotonic()
        failure: str | None = None
        if netns:
            # setns moves only this thread: the probe sees the network as its host does.
            try:
                enter_netns(netns)
            except OSError as exc:
                failure = f"cannot sample from namespace {netns}: {exc}"
        try:
            while not self._stop.is_set():
                if failure is None:
                    self._samples.put(probe.sample())
                else:  # keep failing visibly rather than leave a silent gap
                    self._samples.put(Sample(clock.now(), probe.name, False, error=failure))
                next_at += every
                delay = next_at - clock.monotonic()
                if delay < 0:  # a slow sample: skip ahead instead of bursting
                    next_at = clock.monotonic()
                    delay = 0
                clock.wait(self._stop, delay)
        finally:
            close_probe(probe)
