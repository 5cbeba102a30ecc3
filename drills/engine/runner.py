"""The run loop: baseline, inject, observe, revert, recover, verdict.

Framework-free. Faults reach agents through a FaultDriver, events leave through an
EventSink, and abort requests come in through a callable, so Celery, Django and the
CLI are all outside this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drills.engine.clock import Clock, SystemClock
from drills.engine.driver import (
    AgentRefused,
    AgentUnavailable,
    EvidenceFeed,
    FaultDriver,
    PendingReply,
)
from drills.engine.events import EventSink, EventType, kernel_sample_event, sample_event
from drills.engine.outcome import RunOutcome
from drills.engine.plan import Plan, PlannedFault, PlannedStep
from drills.engine.probe_pool import ProbePool, build_probes
from drills.engine.rpo import measure_rpo, rpo_problems
from drills.engine.states import TRANSITIONS, RunState, check_transition
from drills.playbook.model import Playbook, proof_of
from injector.protocol import (
    CollectRequest,
    EvidenceBeat,
    FaultSpec,
    FaultState,
    KernelSampleMessage,
)
from verifier.phases import Phase
from verifier.probes.probe import Probe, build_probe
from verifier.proof import EvidenceLog, KernelPoint, no_effect
from verifier.verdicts import SlaTracker, VerdictState
from verifier.windows import Sample, SampleStore

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    lease_seconds: float = 10.0
    tick_seconds: float = 0.1
    settle_seconds: float = 5.0
    # How long recovery may take when the playbook sets no RTO objective.
    default_recovery_timeout: float = 60.0
    # Recovery is watched at least this long after the last revert, whatever the RTO objective.
    min_recovery_seconds: float = 10.0
    agent_timeout: float = 15.0
    abort_poll_seconds: float = 0.25
    evidence_interval: float = 1.0  # kernel collectors' read interval on the agents
    drain_seconds: float = 0.5  # how often kernel samples are fetched from the agents


class _Abort(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _ActiveFault:
    fault_id: str
    step: int
    host: str
    queue: str
    renewal: PendingReply | None = None
    warned: bool = False
    kind: str = ""
    peers: tuple[str, ...] = ()  # addresses the fault acts on (partition peers, destinations)
    applied_at: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _FaultWindow:
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


class DrillRunner:
    def __init__(
        self,
        run_key: str,
        playbook: Playbook,
        plan: Plan,
        driver: FaultDriver,
        sink: EventSink,
        should_abort: Callable[[], str | None] = lambda: None,
        resume_count: Callable[[], int] = lambda: 0,
        options: RunOptions | None = None,
        clock: Clock | None = None,
        evidence: EvidenceFeed | None = None,
    ) -> None:
        self.run_key = (
            run_key  # the run key (injector.protocol): fault ids and evidence keys use it
        )
        self.playbook = playbook
        self.plan = plan
        self.driver = driver
        self.sink = sink
        self.should_abort = should_abort
        self.resume_count = resume_count
        self.opt = options or RunOptions()
        self.clock: Clock = clock or SystemClock()
        self.state = RunState.PENDING
        self.store = SampleStore()
        self.tracker = SlaTracker(
            playbook.sla_specs(),  # carries `for` (hold_for) as well as the expression
            self.store,
            settle_seconds=self.opt.settle_seconds,
        )
        self.has_recovery_slas = any(Phase(s.during) is Phase.RECOVERY for s in playbook.slas)
        self.build_probe = build_probe
        self.probes: dict[str, Probe] = {}  # built at preflight; the canaries keep their writes
        self.pool = ProbePool([], {}, self.clock)  # the plan's, once preflight built them
        self._active: dict[tuple[str, str], _ActiveFault] = {}
        self._faults_on = 0  # open fault windows; the FAULT phase lasts while any is open
        self._in_baseline = True
        self._pending_abort: str | None = None
        self._last_abort_poll = 0.0
        self._last_renewal = 0.0
        self._started = 0.0
        self._fault_start: float | None = None
        self.evidence = evidence
        self.evidence_log = EvidenceLog()
        self._evidence_open = False
        self._last_drain = 0.0
        self._windows: list[_FaultWindow] = []

    # -- events ---------------------------------------------------------------
    def _emit(self, type: EventType, data: dict[str, Any]) -> None:
        self.sink.emit(type, data, self.clock.now())

    def _to(self, new: RunState) -> None:
        check_transition(self.state, new)
        previous, self.state = self.state, new
        self._emit(EventType.STATE, {"state": new.value, "previous": previous.value})

    def _verdicts(self, changes: list) -> None:  # type: ignore[type-arg]
        for change in changes:
            self._emit(
                EventType.VERDICT,
                {
                    "sla": change.sla,
                    "state": change.state.value,
                    "value": change.value,
                    "reason": change.reason,
                    "on_breach": change.on_breach,
                },
            )
            if (
                change.state is VerdictState.BREACHED
                and change.on_breach == "abort"
                and self._pending_abort is None
            ):
                self._pending_abort = f"SLA {change.sla!r} breached (on_breach: abort)"

    # -- the tick ---------------------------------------------------------------
    def _drain_samples(self, samples: list[Sample] | None = None) -> None:
        for sample in self.pool.collect() if samples is None else samples:
            self.store.add(sample)
            self._emit(EventType.SAMPLE, sample_event(sample))

    def _stop_probes(self) -> None:
        """Stop sampling, and put what the probes sampled up to now in the store and stream:
        RPO then counts exactly the writes the run's events show."""
        self._drain_samples(self.pool.stop())

    def _tick(self) -> None:
        now = self.clock.now()
        self._drain_samples()
        if self._evidence_open and now - self._last_drain >= self.opt.drain_seconds:
            self._last_drain = now
            self._drain_evidence()
        self._verdicts(self.tracker.evaluate(now))
        if now - self._last_abort_poll >= self.opt.abort_poll_seconds:
            self._last_abort_poll = now
            reason = self.should_abort()
            if reason and self._pending_abort is None:
                self._pending_abort = reason
        if now - self._started > self.playbook.limits.max_duration and self._pending_abort is None:
            self._pending_abort = f"max_duration {self.playbook.limits.max_duration:g}s exceeded"
        if now - self._last_renewal >= self.opt.lease_seconds / 3:
            self._last_renewal = now
            self._renew_leases()
            if self._evidence_open and self.evidence is not None:
                self.evidence.keep_alive(self.run_key, self.opt.lease_seconds)
        if self._pending_abort is not None:
            raise _Abort(self._pending_abort)

    def _renew_leases(self) -> None:
        for fault in self._active.values():
            previous = fault.renewal
            if previous is not None:
                reply = previous.poll()
                if reply is None and not fault.warned:
                    fault.warned = True
                    self._emit(
                        EventType.LEASE_WARNING,
                        {
                            "fault_id": fault.fault_id,
                            "host": fault.host,
                            "message": "the agent did not answer a lease renewal; if it stays "
                            "silent the fault is reverted on the host when its lease expires",
                        },
                    )
                elif reply is not None and not reply.renewed:
                    if not fault.warned:
                        fault.warned = True
                        self._emit(
                            EventType.LEASE_WARNING,
                            {
                                "fault_id": fault.fault_id,
                                "host": fault.host,
                                "message": f"the agent reports the fault as {reply.state}: "
                                "it was reverted on the host before the step ended",
                            },
                        )
            fault.renewal = self.driver.renew(fault.queue, fault.fault_id, self.opt.lease_seconds)

    def _wait_until(self, deadline: float) -> None:
        while True:
            self._tick()
            remaining = deadline - self.clock.now()
            if remaining <= 0:
                return
            self.clock.sleep(min(self.opt.tick_seconds, remaining))

    # -- faults -------------------------------------------------------------------
    def _apply(self, step: PlannedStep, fault: PlannedFault) -> _ActiveFault:
        spec = FaultSpec(
            self.run_key, step.index, 1, fault.kind, dict(fault.params), self.opt.lease_seconds
        )
        fault_id = spec.fault_id
        peers = (*fault.params.get("peers", ()), *fault.params.get("destinations", ()))
        active = _ActiveFault(
            fault_id,
            step.index,
            fault.host,
            fault.queue,
            kind=fault.kind,
            peers=tuple(peers),
            params=fault.params,
        )
        # Track before sending: if the reply is lost, revert still targets it.
        self._active[(fault.host, fault_id)] = active
        try:
            reply = self.driver.apply(fault.queue, spec, self.opt.agent_timeout)
        except (AgentRefused, AgentUnavailable) as exc:
            raise RuntimeError(
                f"step {step.path} “{step.name}”: the {fault.kind} fault on {fault.host} could "
                f"not be applied: {exc}"
            ) from None
        active.applied_at = self.clock.now()
        self._emit(
            EventType.FAULT_APPLIED,
            {
                "step": step.index,
                "path": step.path,
                "fault_id": reply.fault_id or fault_id,
                "host": fault.host,
                "kind": fault.kind,
                "mechanism": reply.mechanism or fault.mechanism,
                "params": fault.params,
            },
        )
        return active

    def _revert(self, fault: _ActiveFault) -> bool:
        message = ""
        try:
            reply = self.driver.revert(fault.queue, fault.fault_id, self.opt.agent_timeout)
            state = reply.state.value
        except (AgentUnavailable, AgentRefused) as exc:
            state, message = FaultState.UNCONFIRMED.value, str(exc)
        data = {"step": fault.step, "fault_id": fault.fault_id, "host": fault.host, "state": state}
        self._active.pop((fault.host, fault.fault_id), None)
        if state == FaultState.REVERTED:
            self._emit(EventType.FAULT_REVERTED, data)
            self._windows.append(self._window(fault))
            return True
        data["message"] = message or (
            "the agent could not confirm the revert; its janitor reverts the fault when the "
            "lease expires"
        )
        self._emit(EventType.FAULT_UNCONFIRMED, data)
        return False

    def _revert_all(self) -> None:
        for fault in list(self._active.values()):
            try:
                self._revert(fault)
            except Exception:  # keep reverting the others; leases are the backstop
                log.exception("revert of %s failed", fault.fault_id)

    # -- the run ----------------------------------------------------------------------
    def run(self) -> RunOutcome:
        self._started = self.clock.now()
        try:
            self._to(RunState.PREFLIGHT)
            self._preflight()
            self.pool.start()
            self._to(RunState.BASELINE)
            now = self.clock.now()
            self.tracker.enter_phase(Phase.ALWAYS, now)
            self._verdicts(self.tracker.enter_phase(Phase.BEFORE, now))
            for position, step in enumerate(self.plan.steps):
                self._emit(EventType.STEP_STARTED, step.describe())
                if step.kind == "wait":
                    self._wait_until(self.clock.now() + step.duration)
                elif step.kind == "pause":
                    self._pause(step)
                elif step.kind == "fault":
                    self._run_faults([step])
                elif step.kind == "parallel":
                    self._run_faults(list(step.children))
                else:
                    raise ValueError(f"step {step.path}: unknown kind {step.kind!r}")
                self._emit(EventType.STEP_FINISHED, {"step": step.index, "path": step.path})
                more = position + 1 < len(self.plan.steps)
                if more and self.state is RunState.REVERTING:
                    self._to(RunState.OBSERVING)  # between faults, the system is watched
            if self._in_baseline:
                self._verdicts(self.tracker.exit_phase(Phase.BEFORE, self.clock.now()))
            outcome = self._recover()
        except _Abort as abort:
            outcome = self._abort(abort.reason)
        except Exception as exc:
            log.exception("run %s failed", self.run_key)
            outcome = self._error(exc)
        finally:
            self._stop_probes()
            self._close_evidence()
        self._emit(EventType.RESULT, outcome.to_dict())
        return outcome

    def _preflight(self) -> None:
        self.probes = build_probes(self.plan.probes, self.build_probe)
        self.pool = ProbePool(self.plan.probes, self.probes, self.clock)
        queues = {fault.queue for _, fault in self.plan.faults()}
        for host_queue in sorted(queues):
            self.driver.ping(host_queue, self.opt.agent_timeout)
        self._start_collectors()

    def _pause(self, step: PlannedStep) -> None:
        """Hold the run until an operator resumes it; ticks (and aborts) go on meanwhile."""
        baseline = self.resume_count()
        self._emit(EventType.PAUSED, {"step": step.index, "path": step.path, "name": step.name})
        while self.resume_count() <= baseline:
            self._wait_until(self.clock.now() + self.opt.abort_poll_seconds)
        self._emit(EventType.RESUMED, {"step": step.index, "path": step.path})

    def _run_faults(self, steps: list[PlannedStep]) -> None:
        """Run fault (and wait) steps side by side: apply all, revert each at its own end."""
        if any(s.kind not in ("fault", "wait") for s in steps):
            raise ValueError("a parallel group may hold fault and wait steps only")
        fault_steps = [s for s in steps if s.kind == "fault"]
        if not fault_steps:
            self._wait_until(self.clock.now() + max(s.duration for s in steps))
            return
        if self._in_baseline:
            self._verdicts(self.tracker.exit_phase(Phase.BEFORE, self.clock.now()))
            self._in_baseline = False
        self._to(RunState.INJECTING)
        start = self.clock.now()
        ends: list[tuple[float, list[_ActiveFault]]] = []
        for step in fault_steps:
            applied = [self._apply(step, fault) for fault in step.faults]
            ends.append((self.clock.now() + step.duration, applied))
            self._open_fault_window()
        self._to(RunState.OBSERVING)
        ordered = sorted(ends, key=lambda pair: pair[0])
        for position, (end, applied) in enumerate(ordered):
            self._wait_until(end)
            if position == len(ordered) - 1:
                self._to(RunState.REVERTING)  # the last faults of the group end here
            for fault in applied:
                self._revert(fault)
            self._close_fault_window()
        finish = start + max(s.duration for s in steps)
        if finish > self.clock.now():  # a longer wait beside the faults: observe until it ends
            self._to(RunState.OBSERVING)
            self._wait_until(finish)

    def _open_fault_window(self) -> None:
        now = self.clock.now()
        if self._fault_start is None:
            self._fault_start = now
            # Recovery is judged from the start of the disruption: a failover recovers while
            # the fault is still on, and RTO counts from here.
            self._verdicts(self.tracker.enter_phase(Phase.RECOVERY, now))
        if self._faults_on == 0:
            self._verdicts(self.tracker.enter_phase(Phase.FAULT, now))
        self._faults_on += 1

    def _close_fault_window(self) -> None:
        self._faults_on -= 1
        if self._faults_on == 0:
            self._verdicts(self.tracker.exit_phase(Phase.FAULT, self.clock.now()))

    def _recover(self) -> RunOutcome:
        self._to(RunState.RECOVERING)
        now = self.clock.now()
        if self._fault_start is None:  # a drill without faults: recovery is judged from here
            self._verdicts(self.tracker.enter_phase(Phase.RECOVERY, now))
        objective = self.playbook.objectives.rto
        rto: float | None = None
        if self.has_recovery_slas:
            origin = self._fault_start if self._fault_start is not None else now
            budget = objective if objective is not None else self.opt.default_recovery_timeout
            # However short the objective, recovery is watched for a while after the last
            # revert, so a late recovery is measured (and judged against the objective).
            watch = now + self.opt.min_recovery_seconds
            deadline = max(origin + budget, watch) + self.opt.settle_seconds
            while True:
                self._tick()
                t = self.clock.now()
                since = self.tracker.recovered_since(t)
                if since is not None:
                    rto = max(0.0, since - origin)
                    break
                if t >= deadline:
                    break
                self.clock.sleep(self.opt.tick_seconds)
        end = self.clock.now()
        self._verdicts(self.tracker.exit_phase(Phase.RECOVERY, end))
        self._verdicts(self.tracker.exit_phase(Phase.ALWAYS, end))
        verdicts = {k: v.value for k, v in self.tracker.finalize(end).items()}
        failed = sorted(k for k, v in verdicts.items() if v != VerdictState.PASSED.value)
        reasons = []
        if failed:
            reasons.append("SLA failed: " + ", ".join(failed))
        if self.has_recovery_slas and rto is None:
            reasons.append("did not recover in time")
        if rto is not None and objective is not None and rto > objective:
            reasons.append(f"RTO {rto:.1f}s over the objective {objective:g}s")
        reasons.extend(self._proof_of_effect())
        self._stop_probes()
        rpo = measure_rpo(self.probes)
        if rpo is not None:
            self._emit(EventType.RPO, rpo)
            reasons.extend(rpo_problems(rpo, self.playbook.objectives))
        state = RunState.FAILED if reasons else RunState.PASSED
        self._to(state)
        reason = "; ".join(reasons) or "every SLA held"
        return RunOutcome(state, verdicts, rto, objective, reason, rpo)

    # -- kernel evidence ----------------------------------------------------------------
    def _start_collectors(self) -> None:
        """Kernel collectors on every host that has some, before the baseline starts."""
        if self.evidence is None or not self.plan.collectors:
            return
        self.evidence.open(self.run_key, self.opt.lease_seconds)
        self._evidence_open = True
        for planned in self.plan.collectors:
            try:
                request = CollectRequest(self.run_key, planned.names, self.opt.evidence_interval)
                reply = self.driver.collect(planned.queue, request, self.opt.agent_timeout)
                collectors = [c.to_json() for c in reply.collectors]
            except Exception as exc:  # evidence is wanted, but its absence is reported, not fatal
                collectors = [
                    {"name": name, "source": None, "reason": f"the agent did not start it: {exc}"}
                    for name in planned.names
                ]
            self._emit(EventType.COLLECTORS, {"host": planned.host, "collectors": collectors})

    def _drain_evidence(self) -> None:
        assert self.evidence is not None
        try:
            messages = self.evidence.drain(self.run_key)
        except Exception as exc:  # Redis hiccup: the samples wait in the list for the next drain
            log.warning("run %s: kernel samples not drained: %s", self.run_key, exc)
            return
        for message in messages:
            if isinstance(message, EvidenceBeat):
                continue  # beats show which intervals arrived; the evidence watch uses them
            point = kernel_point(message)
            self.evidence_log.add(point)
            self.store.add(Sample(point.t, f"kernel.{point.metric}", True, value=point.value))
            self._emit(EventType.SAMPLE, kernel_sample_event(message))

    def _close_evidence(self) -> None:
        if not self._evidence_open or self.evidence is None:
            return
        self._evidence_open = False
        try:
            self.evidence.close(self.run_key)
        except Exception as exc:  # the lease key expires by itself; collectors stop then
            log.warning("run %s: evidence lease not removed: %s", self.run_key, exc)

    def _window(self, fault: _ActiveFault) -> _FaultWindow:
        by_address = {c.address: c.host for c in self.plan.collectors}
        hosts = (fault.host, *(by_address[a] for a in fault.peers if a in by_address))
        start = fault.applied_at or self.clock.now()
        return _FaultWindow(
            fault.fault_id, fault.kind, hosts, start, self.clock.now(), fault.params
        )

    def _proof_of_effect(self) -> list[str]:
        """Every fault the kernel can see must have been seen; say which were not."""
        if not self._evidence_open:
            return []
        # The interval that holds the last revert reaches the runner one interval later.
        self._wait_until(self.clock.now() + self.opt.evidence_interval + self.opt.drain_seconds)
        self._drain_evidence()
        problems = []
        for window in self._windows:
            judgement = no_effect(
                proof_of(window.kind, window.params),
                list(window.hosts),
                window.start,
                window.end,
                self.evidence_log,
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

    def _abort(self, reason: str) -> RunOutcome:
        self._emit(EventType.ABORT, {"reason": reason})
        if self.state is not RunState.REVERTING:
            self._to(RunState.REVERTING)
        self._revert_all()
        end = self.clock.now()
        verdicts = {k: v.value for k, v in self.tracker.finalize(end).items()}
        self._to(RunState.ABORTED)
        return RunOutcome(RunState.ABORTED, verdicts, None, self.playbook.objectives.rto, reason)

    def _error(self, exc: Exception) -> RunOutcome:
        message = str(exc) or type(exc).__name__
        self._emit(EventType.ERROR, {"message": message})
        if self.state.terminal:
            return RunOutcome(self.state, {}, None, self.playbook.objectives.rto, message)
        # Every state that can hold a fault goes through REVERTING; the rest go straight on.
        if self.state is not RunState.REVERTING and RunState.REVERTING in TRANSITIONS[self.state]:
            self._to(RunState.REVERTING)
        self._revert_all()
        self._to(RunState.ERROR)
        return RunOutcome.error(message, self.playbook.objectives.rto)
