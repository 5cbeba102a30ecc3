"""The evidence watch: a run's kernel collectors on the agents, their samples, and whether
each fault the kernel can see showed its effect.

Collectors start at preflight (``drillhall.agent.collect``) and live while the run keeps their
lease key alive (every lease/3); their samples come back through the run's Redis list, drained
every ``drain_seconds`` into the sample store (for assertions) and the event stream. At the
end, every fault window is judged against its fault kind's proof of effect
(verifier/proof.py).

Agents send a beat after every interval's samples. The watch keeps the beats, and the times
its own drains failed, in the evidence log: where a host's beats stop during a fault, its
samples were lost, and proof of effect says "cannot tell" for that span instead of taking
the silence for "no effect".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from drills.engine.clock import Clock
from drills.engine.driver import EvidenceFeed, FaultDriver
from drills.engine.events import Emit, EmitMany, EventType, kernel_sample_event
from drills.engine.leases import ActiveFault
from drills.engine.plan import PlannedCollectors
from drills.playbook.model import proof_of
from injector.protocol import CollectRequest, EvidenceBeat, KernelSampleMessage
from verifier.proof import EvidenceLog, KernelPoint, no_effect
from verifier.windows import Sample, SampleStore

log = logging.getLogger(__name__)

# How often the end of the run looks for the last interval's samples.
FINAL_DRAIN_SECONDS = 0.05


@dataclass(frozen=True)
class FaultWindow:
    """A fault that was on from ``start`` to ``end``: what proof of effect is judged over."""

    fault_id: str
    kind: str
    hosts: tuple[str, ...]
    start: float
    end: float
    params: dict[str, Any] = field(default_factory=dict)


def kernel_point(message: KernelSampleMessage) -> KernelPoint:
    buckets = tuple(sorted((float(bound), int(n)) for bound, n in message.buckets.items()))
    return KernelPoint(
        message.t, message.host, message.metric, message.value, message.source, buckets
    )


class EvidenceWatch:
    def __init__(
        self,
        run_key: str,
        collectors: Sequence[PlannedCollectors],
        driver: FaultDriver,
        feed: EvidenceFeed | None,
        clock: Clock,
        emit: Emit,
        store: SampleStore,
        *,
        emit_many: EmitMany | None = None,
        lease_seconds: float,
        interval: float,
        drain_seconds: float,
        agent_timeout: float,
    ) -> None:
        self.run_key = run_key
        self.collectors = list(collectors)
        self.driver = driver
        self.feed = feed
        self.clock = clock
        self.store = store
        self._emit_many = emit_many or self._emit_each
        self.log = EvidenceLog()
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.drain_seconds = drain_seconds
        self.agent_timeout = agent_timeout
        self._emit = emit
        self._open = False
        self._last_drain = 0.0
        self._last_keep_alive = 0.0
        self._windows: list[FaultWindow] = []

    def start(self) -> None:
        """Kernel collectors on every host that has some, before the baseline starts."""
        if self.feed is None or not self.collectors:
            return
        # The lease must outlast the wait for the slowest agent: a host that answered first
        # runs its collectors meanwhile, and they close when the lease key is gone. Nothing
        # renews it during the wait, which ``agent_timeout`` bounds.
        self.feed.open(
            self.run_key,
            self.lease_seconds + self.agent_timeout,
            [c.host for c in self.collectors],
        )
        self._open = True
        requests = [
            (planned.queue, CollectRequest(self.run_key, planned.names, self.interval))
            for planned in self.collectors
        ]
        # Every host at once: an agent that compiles its programs (its first run) takes a
        # second or more, and the others need not wait for it.
        replies = self.driver.collect_all(requests, self.agent_timeout)
        said = []
        for planned, reply in zip(self.collectors, replies, strict=True):
            if isinstance(reply, Exception):  # evidence is wanted; its absence is reported
                collectors = [
                    {"name": name, "source": None, "reason": f"the agent did not start it: {reply}"}
                    for name in planned.names
                ]
            else:
                collectors = [c.to_json() for c in reply.collectors]
            said.append((EventType.COLLECTORS, {"host": planned.host, "collectors": collectors}))
        self._emit_many(said)  # every host's in one write
        # Starting collectors may have taken a while: the lease starts afresh from here.
        self._last_keep_alive = self.clock.now()
        self.feed.keep_alive(self.run_key, self.lease_seconds)

    def drain_due(self, now: float) -> None:
        if self._open and now - self._last_drain >= self.drain_seconds:
            self._last_drain = now
            self.drain()

    def _emit_each(self, events: list[tuple[EventType, dict[str, Any]]]) -> None:
        for type, data in events:
            self._emit(type, data)

    def keep_alive_due(self, now: float) -> None:
        """Renew the collectors' lease key every lease/3, as fault leases are."""
        if now - self._last_keep_alive < self.lease_seconds / 3:
            return
        self._last_keep_alive = now
        if self._open and self.feed is not None:
            self.feed.keep_alive(self.run_key, self.lease_seconds)

    def drain(self) -> None:
        assert self.feed is not None
        try:
            messages = self.feed.drain(self.run_key)
        except Exception as exc:  # Redis hiccup: the samples wait in the list for the next drain
            log.warning("run %s: kernel samples not drained: %s", self.run_key, exc)
            # If they never come (the broker lost them), the gap is explained by this.
            self.log.unread(self.clock.now(), str(exc) or type(exc).__name__)
            return
        batch = []
        for message in messages:
            if isinstance(message, EvidenceBeat):
                self.log.beat(message.host, message.t, message.interval)
                continue
            point = kernel_point(message)
            self.log.add(point)
            self.store.add(Sample(point.t, f"kernel.{point.metric}", True, value=point.value))
            batch.append((EventType.SAMPLE, kernel_sample_event(message)))
        if batch:
            self._emit_many(batch)  # one write for the drain's samples

    def close(self) -> None:
        if not self._open or self.feed is None:
            return
        self._open = False
        try:
            self.feed.close(self.run_key)
        except Exception as exc:  # the lease key expires by itself; collectors stop then
            log.warning("run %s: evidence lease not removed: %s", self.run_key, exc)

    def fault_reverted(self, fault: ActiveFault) -> None:
        """A fault's revert was confirmed: its window is judged at the end."""
        by_address = {c.address: c.host for c in self.collectors}
        hosts = (fault.host, *(by_address[a] for a in fault.peers if a in by_address))
        end = self.clock.now()
        start = fault.applied_at or end
        self._windows.append(
            FaultWindow(fault.fault_id, fault.kind, hosts, start, end, fault.params)
        )

    def _ask_to_read_now(self) -> None:
        """Every host's collectors read and send at once (``CollectRequest.read_now``). An
        agent that does not answer within an interval (or predates the request) is not
        waited for: its samples come at the end of its interval, as before."""
        requests = [
            (c.queue, CollectRequest(self.run_key, c.names, self.interval, read_now=True))
            for c in self.collectors
        ]
        for (queue, _), reply in zip(
            requests, self.driver.collect_all(requests, min(self.agent_timeout, self.interval)),
            strict=True,
        ):  # fmt: skip
            if isinstance(reply, Exception):
                log.info("run %s: %s did not read at once: %s", self.run_key, queue, reply)

    def _read_past(self, t: float) -> bool:
        """Every host with collectors sent the samples of an interval that ended after ``t``."""
        hosts = {c.host for c in self.collectors}
        return all((self.log.last_beat(h) or float("-inf")) > t for h in hosts)

    def proof_of_effect(self, wait_until: Callable[[float], None]) -> list[str]:
        """Every fault the kernel can see must have been seen; say which were not.

        ``wait_until`` is the run loop's own wait: it goes on ticking (probes, aborts) while
        the last interval's samples arrive.
        """
        if not self._open:
            return []
        # The interval that holds the last revert reaches the runner up to one interval later;
        # once every host's beat says it read past the last revert, everything is here. The
        # agents are asked to read now rather than at the end of their interval.
        until = max((w.end for w in self._windows), default=self.clock.now())
        deadline = self.clock.now() + self.interval + self.drain_seconds
        asked = False
        while True:
            self.drain()
            if self._read_past(until) or self.clock.now() >= deadline:
                break
            if not asked:  # once, and only when what is here does not cover it already
                self._ask_to_read_now()
                asked = True
                continue
            wait_until(min(deadline, self.clock.now() + FINAL_DRAIN_SECONDS))
        problems = []
        for window in self._windows:
            judgement = no_effect(
                proof_of(window.kind, window.params),
                list(window.hosts),
                window.start,
                window.end,
                self.log,
            )
            if judgement is None:
                continue
            self._emit(
                EventType.NO_EFFECT,
                {"fault_id": window.fault_id, "kind": window.kind, "hosts": list(window.hosts),
                 "judged": judgement.judged, "message": judgement.message},
            )  # fmt: skip
            if judgement.judged:  # "cannot tell" is said, but does not fail the run
                problems.append(f"{window.fault_id} ({window.kind}): {judgement.message}")
        return problems
