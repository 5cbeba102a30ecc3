"""The run loop: baseline, inject, observe, revert, recover, verdict.

Framework-free. Faults reach agents through a FaultDriver, events leave through an
EventSink, and abort requests come in through a callable, so Celery, Django and the
CLI are all outside this module.

The loop composes small parts that share its one clock: the SLA phases (sla_phases.py),
the probe pool (probe_pool.py), fault leases (leases.py), the evidence watch
(evidence_watch.py), alert silences for fault windows (silences.py) and RPO (rpo.py). Every
event comes from the loop's thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drills.engine.clock import Clock, SystemClock
from drills.engine.driver import AgentRefused, AgentUnavailable, EvidenceFeed, FaultDriver
from drills.engine.events import EventSink, EventType, sample_event
from drills.engine.evidence_watch import EvidenceWatch
from drills.engine.leases import ActiveFault, EndedEarly, FaultLeases
from drills.engine.outcome import RunOutcome
from drills.engine.plan import Plan, PlannedStep
from drills.engine.probe_pool import ProbeBuilder, ProbePool, build_probes
from drills.engine.rpo import measure_rpo, rpo_problems
from drills.engine.silences import FaultSilences, Silencer, silence_margin
from drills.engine.sla_phases import SlaPhases
from drills.engine.states import TRANSITIONS, RunState, check_transition
from drills.playbook.model import Playbook
from verifier.phases import Phase
from verifier.probes.probe import Probe, build_probe
from verifier.verdicts import SlaTracker, VerdictState
from verifier.windows import Sample, SampleStore

log = logging.getLogger(__name__)

# Errors the engine raises with a sentence meant for people (a preflight problem, a fault that
# could not be applied, an agent that did not answer); anything else is explained around it.
SPEAKING_ERRORS = (ValueError, RuntimeError, AgentUnavailable, AgentRefused)


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


class _FaultEndedEarly(Exception):
    def __init__(self, ended: EndedEarly) -> None:
        super().__init__(ended.sentence())
        self.ended = ended


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
        *,
        build_probe: ProbeBuilder = build_probe,
        silencer: Silencer | None = None,
    ) -> None:
        self.run_key = run_key  # the run key (injector.protocol): fault ids and evidence keys
        self.playbook = playbook
        self.plan = plan
        self.driver = driver
        self.sink = sink
        self.should_abort = should_abort
        self.resume_count = resume_count
        self.opt = opt = options or RunOptions()
        self.clock: Clock = clock or SystemClock()
        self.state = RunState.PENDING
        self._held: list[tuple[EventType, dict[str, Any]]] = []  # see _hold
        self.store = SampleStore()
        tracker = SlaTracker(
            playbook.sla_specs(),  # carries `for` (hold_for) as well as the expression
            self.store,
            settle_seconds=opt.settle_seconds,
        )
        has_recovery = any(Phase(s.during) is Phase.RECOVERY for s in playbook.slas)
        self.phases = SlaPhases(tracker, self._emit, has_recovery)
        self.build_probe = build_probe  # tests on a fake clock pass probes that take no time
        self.probes: dict[str, Probe] = {}  # built at preflight; the canaries keep their writes
        self.pool = ProbePool([], {}, self.clock)  # the plan's, once preflight built them
        self.leases = FaultLeases(
            run_key, driver, self.clock, self._emit, opt.lease_seconds, opt.agent_timeout
        )
        self.evidence = EvidenceWatch(
            run_key, plan.collectors, driver, evidence, self.clock, self._emit, self.store,
            emit_many=self._emit_many, lease_seconds=opt.lease_seconds,
            interval=opt.evidence_interval, drain_seconds=opt.drain_seconds,
            agent_timeout=opt.agent_timeout,
        )  # fmt: skip
        # None: no Alertmanager, nothing is silenced (and no silence events).
        self.silences = FaultSilences(
            run_key, playbook.metadata.name, silencer, self.clock, self._emit,
            margin=silence_margin(opt.agent_timeout, opt.lease_seconds),
        )  # fmt: skip
        self._pending_abort: str | None = None
        self._last_abort_poll = 0.0
        self._started = 0.0

    # -- events ---------------------------------------------------------------
    def _emit(self, type: EventType, data: dict[str, Any]) -> None:
        if self._held:
            self._emit_many([(type, data)])
        else:
            self.sink.emit(type, data, self.clock.now())

    def _emit_many(self, events: list[tuple[EventType, dict[str, Any]]]) -> None:
        events, self._held = [*self._held, *events], []
        if events:
            self.sink.emit_many(events, self.clock.now())

    def _hold(self, type: EventType, data: dict[str, Any]) -> None:
        """Store ``type`` with the next write (at the latest the next tick's), in order.

        Only for what comes right before another write with nothing to wait for in between:
        the baseline and a fault step's start go with "injecting", in one transaction, where
        each used to wait its turn at the database on the way to the first fault."""
        self._held.append((type, data))

    def _to(self, new: RunState, hold: bool = False) -> None:
        check_transition(self.state, new)
        previous, self.state = self.state, new
        event = (EventType.STATE, {"state": new.value, "previous": previous.value})
        if hold:
            self._hold(*event)
        else:
            self._emit(*event)

    # -- the tick ---------------------------------------------------------------
    def _drain_samples(self, samples: list[Sample] | None = None) -> None:
        # One write for the tick's samples: a hundred runs at once must not queue for the
        # database one sample at a time.
        batch = []
        for sample in self.pool.collect() if samples is None else samples:
            self.store.add(sample)
            batch.append((EventType.SAMPLE, sample_event(sample)))
        self._emit_many(batch)

    def _stop_probes(self) -> None:
        """Stop sampling, and put what the probes sampled up to now in the store and stream:
        RPO then counts exactly the writes the run's events show."""
        self._drain_samples(self.pool.stop())

    def _tick(self) -> None:
        if self._held:
            self._emit_many([])
        now = self.clock.now()
        self._drain_samples()
        self.evidence.drain_due(now)
        self.phases.evaluate(now)
        if self._pending_abort is None:
            self._pending_abort = self.phases.abort_reason
        if now - self._last_abort_poll >= self.opt.abort_poll_seconds:
            self._last_abort_poll = now
            reason = self.should_abort()
            if reason and self._pending_abort is None:
                self._pending_abort = reason
        if now - self._started > self.playbook.limits.max_duration and self._pending_abort is None:
            self._pending_abort = f"max_duration {self.playbook.limits.max_duration:g}s exceeded"
        ended = self.leases.renew_due(now)
        self.evidence.keep_alive_due(now)
        if self._pending_abort is not None:  # an abort asked for stays an abort
            raise _Abort(self._pending_abort)
        if ended is not None:
            raise _FaultEndedEarly(ended)

    def _wait_until(self, deadline: float) -> None:
        while True:
            self._tick()
            remaining = deadline - self.clock.now()
            if remaining <= 0:
                return
            self.clock.sleep(min(self.opt.tick_seconds, remaining))

    # -- the run ----------------------------------------------------------------------
    def run(self) -> RunOutcome:
        self._started = self.clock.now()
        try:
            self._to(RunState.PREFLIGHT)
            self._preflight()
            self.pool.start()
            self._to(RunState.BASELINE, hold=True)
            self.phases.begin(self.clock.now())
            for position, step in enumerate(self.plan.steps):
                self._hold(EventType.STEP_STARTED, step.describe())
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
            self.phases.end_baseline(self.clock.now())
            outcome = self._recover()
        except _Abort as abort:
            outcome = self._abort(abort.reason)
        except _FaultEndedEarly as early:
            outcome = self._ended_early(early.ended)
        except Exception as exc:
            log.exception("run %s failed", self.run_key)
            outcome = self._error(exc)
        finally:
            self.silences.lift_all()  # whatever ended the run, no silence outlives it
            self._stop_probes()
            self.evidence.close()
        self._emit(EventType.RESULT, outcome.to_dict())
        return outcome

    def _preflight(self) -> None:
        self.probes = build_probes(self.plan.probes, self.build_probe)
        self.pool = ProbePool(self.plan.probes, self.probes, self.clock)
        queues = {fault.queue for _, fault in self.plan.faults()}
        # Both at once: the hosts admit the run while they start its collectors, and each
        # agent still admits first (it takes its messages in order). A host that refuses
        # ends the run here; its collectors close with it.
        admitted = self.driver.ask_ready(sorted(queues), self.opt.agent_timeout)
        self.evidence.start()
        admitted()

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
        self.phases.end_baseline(self.clock.now())
        self._to(RunState.INJECTING)
        start = self.clock.now()
        ends: list[tuple[float, list[ActiveFault]]] = []
        for step in fault_steps:
            self.silences.cover(step)  # before the faults: alerts may fire the moment they land
            applied = [self.leases.apply(step, fault) for fault in step.faults]
            end = self.clock.now() + step.duration
            for fault in applied:
                fault.ends_at = end
            ends.append((end, applied))
            self.phases.fault_on(self.clock.now())
        self._to(RunState.OBSERVING)
        ordered = sorted(ends, key=lambda pair: pair[0])
        for position, (end, applied) in enumerate(ordered):
            self._wait_until(end)
            if position == len(ordered) - 1:
                self._to(RunState.REVERTING)  # the last faults of the group end here
            for fault in applied:
                if self.leases.revert(fault):
                    self.evidence.fault_reverted(fault)
            # Reverted, confirmed or not: when in doubt, alerts get through.
            self.silences.lift((fault.step, fault.host) for fault in applied)
            self.phases.fault_off(self.clock.now())
        finish = start + max(s.duration for s in steps)
        if finish > self.clock.now():  # a longer wait beside the faults: observe until it ends
            self._to(RunState.OBSERVING)
            self._wait_until(finish)

    def _recover(self) -> RunOutcome:
        self._to(RunState.RECOVERING)
        now = self.clock.now()
        origin = self.phases.start_recovery(now)
        objective = self.playbook.objectives.rto
        rto: float | None = None
        if self.phases.has_recovery_slas:
            budget = objective if objective is not None else self.opt.default_recovery_timeout
            # However short the objective, recovery is watched for a while after the last
            # revert, so a late recovery is measured (and judged against the objective).
            watch = now + self.opt.min_recovery_seconds
            deadline = max(origin + budget, watch) + self.opt.settle_seconds
            while True:
                self._tick()
                t = self.clock.now()
                since = self.phases.recovered_since(t)
                if since is not None:
                    rto = max(0.0, since - origin)
                    break
                if t >= deadline:
                    break
                self.clock.sleep(self.opt.tick_seconds)
        verdicts = self.phases.finish(self.clock.now())
        failed = sorted(k for k, v in verdicts.items() if v != VerdictState.PASSED.value)
        reasons = []
        if failed:
            reasons.append("SLA failed: " + ", ".join(failed))
        if self.phases.has_recovery_slas and rto is None:
            reasons.append("did not recover in time")
        if rto is not None and objective is not None and rto > objective:
            reasons.append(f"RTO {rto:.1f}s over the objective {objective:g}s")
        reasons.extend(self.evidence.proof_of_effect(self._wait_until))
        self._stop_probes()
        rpo = measure_rpo(self.probes)
        if rpo is not None:
            self._emit(EventType.RPO, rpo)
            reasons.extend(rpo_problems(rpo, self.playbook.objectives))
        state = RunState.FAILED if reasons else RunState.PASSED
        self._to(state)
        reason = "; ".join(reasons) or "every SLA held"
        return RunOutcome(state, verdicts, rto, objective, reason, rpo)

    def _revert_all(self) -> None:
        """The run stops faulting: revert what it holds, then end the silences it made."""
        self.leases.revert_all()
        self.silences.lift_all()

    def _abort(self, reason: str) -> RunOutcome:
        self._emit(EventType.ABORT, {"reason": reason})
        if self.state is not RunState.REVERTING:
            self._to(RunState.REVERTING)
        self._revert_all()
        verdicts = self.phases.finalize(self.clock.now())
        self._to(RunState.ABORTED)
        return RunOutcome(RunState.ABORTED, verdicts, None, self.playbook.objectives.rto, reason)

    def _ended_early(self, ended: EndedEarly) -> RunOutcome:
        """A fault ended early for the tool's own reasons: stop faulting, revert the rest, and
        end in error. What the probes saw after that point is not the drill the playbook
        describes, so no SLA is failed on it: they are "not judged"."""
        self._emit(EventType.FAULT_ENDED_EARLY, ended.event())
        # A halt reverts faults on the agents and asks every run to abort: that is an abort.
        try:
            reason = self.should_abort()
        except Exception:
            log.exception("run %s: could not ask whether an abort was requested", self.run_key)
            reason = None
        if reason:
            return self._abort(reason)
        message = ended.sentence()
        self._emit(EventType.ERROR, {"message": message})
        if self.state is not RunState.REVERTING:
            self._to(RunState.REVERTING)
        self._revert_all()
        verdicts = self.phases.not_judged(ended.at, ended.short())
        self._to(RunState.ERROR)
        return RunOutcome(RunState.ERROR, verdicts, None, self.playbook.objectives.rto, message)

    def _error(self, exc: Exception) -> RunOutcome:
        if isinstance(exc, SPEAKING_ERRORS) and str(exc):
            message = str(exc)
        else:  # a library's own words (Redis, the database): say what it means for the run
            message = (
                f"the run stopped on an unexpected error ({type(exc).__name__}: {exc}); its "
                "faults were reverted. The orchestrator's log has the details; check that Redis "
                "and the database are reachable, then run it again"
            )
        self._emit(EventType.ERROR, {"message": message})
        if self.state.terminal:
            return RunOutcome(self.state, {}, None, self.playbook.objectives.rto, message)
        # Every state that can hold a fault goes through REVERTING; the rest go straight on.
        if self.state is not RunState.REVERTING and RunState.REVERTING in TRANSITIONS[self.state]:
            self._to(RunState.REVERTING)
        self._revert_all()
        self._to(RunState.ERROR)
        return RunOutcome.error(message, self.playbook.objectives.rto)
