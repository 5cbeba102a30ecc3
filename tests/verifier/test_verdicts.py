from __future__ import annotations

import pytest

from verifier.assertions.syntax import parse_assertion
from verifier.phases import Phase
from verifier.verdicts import SlaSpec, SlaTracker, VerdictChange, VerdictState
from verifier.windows import Sample, SampleStore

S = VerdictState
STEP = 0.25


def spec(name: str, text: str, during: Phase, on_breach: str = "record") -> SlaSpec:
    return SlaSpec(name, parse_assertion(text), during, on_breach)


class Drill:
    """Drives a tracker the way the engine does: a sample every 250 ms, evaluate after each."""

    def __init__(self, *slas: SlaSpec, settle: float = 5.0) -> None:
        self.store = SampleStore()
        self.tracker = SlaTracker(list(slas), self.store, settle_seconds=settle)
        self.now = 0.0
        self.changes: list[VerdictChange] = []

    def run(self, until: float, ok: bool) -> None:
        while self.now + STEP <= until + 1e-9:
            self.now = round(self.now + STEP, 6)
            self.store.add(Sample(t=self.now, probe="web", ok=ok, latency_ms=5.0 if ok else None))
            self.changes += self.tracker.evaluate(self.now)

    def enter(self, phase: Phase) -> None:
        self.changes += self.tracker.enter_phase(phase, self.now)

    def exit(self, phase: Phase) -> None:
        self.changes += self.tracker.exit_phase(phase, self.now)

    def states(self, name: str) -> list[tuple[VerdictState, float]]:
        return [(c.state, c.t) for c in self.changes if c.sla == name]


def test_before_sla_waits_for_its_window_then_holds_and_passes() -> None:
    drill = Drill(spec("steady", "error_rate(web, 3s) < 10%", Phase.BEFORE))
    drill.enter(Phase.BEFORE)
    drill.run(until=5.0, ok=True)
    drill.exit(Phase.BEFORE)

    # First judged once the phase lasted the 3 s window, then only on changes.
    assert drill.states("steady") == [(S.HOLDING, 3.0), (S.PASSED, 5.0)]
    assert drill.tracker.finalize(drill.now) == {"steady": S.PASSED}


def test_breach_in_fault_phase_is_sticky() -> None:
    drill = Drill(spec("fails", "error_rate(web, 2s) > 50%", Phase.FAULT, on_breach="abort"))
    drill.run(until=10.0, ok=True)
    drill.enter(Phase.FAULT)
    drill.run(until=13.0, ok=False)
    drill.run(until=16.0, ok=True)  # the fault stops biting: breach
    drill.run(until=20.0, ok=False)  # bites again: still a breach
    drill.exit(Phase.FAULT)

    assert drill.states("fails") == [(S.HOLDING, 12.0), (S.BREACHED, 14.0)]
    breach = drill.changes[-1]
    assert breach.on_breach == "abort" and breach.value == 50.0 and "breached" in breach.reason
    assert drill.tracker.finalize(drill.now) == {"fails": S.FAILED}


def test_breach_stays_through_a_second_entry_of_the_phase() -> None:
    drill = Drill(spec("fails", "error_rate(web, 1s) > 50%", Phase.FAULT))
    drill.enter(Phase.FAULT)
    drill.run(until=2.0, ok=True)
    drill.exit(Phase.FAULT)
    drill.enter(Phase.FAULT)
    drill.run(until=6.0, ok=False)
    drill.exit(Phase.FAULT)

    assert drill.states("fails") == [(S.BREACHED, 1.0)]
    assert drill.tracker.finalize(drill.now)["fails"] is S.FAILED


def test_phase_shorter_than_the_window_is_judged_once_at_exit() -> None:
    drill = Drill(spec("fails", "error_rate(web, 10s) > 50%", Phase.FAULT))
    drill.enter(Phase.FAULT)
    drill.run(until=2.0, ok=False)
    assert drill.changes == []
    drill.exit(Phase.FAULT)

    assert drill.states("fails") == [(S.HOLDING, 2.0), (S.PASSED, 2.0)]


def test_sla_without_data_fails_with_reason() -> None:
    drill = Drill(spec("steady", "error_rate(web, 1s) < 10%", Phase.BEFORE))
    drill.enter(Phase.BEFORE)
    drill.now = 5.0
    drill.exit(Phase.BEFORE)

    (change,) = drill.changes
    assert (change.state, change.reason) == (S.FAILED, "no data")
    assert drill.tracker.finalize(5.0) == {"steady": S.FAILED}


def test_windows_only_see_samples_since_the_phase_started() -> None:
    drill = Drill(spec("back", "error_rate(web, 10s) < 10%", Phase.RECOVERY))
    drill.run(until=5.0, ok=False)
    drill.enter(Phase.RECOVERY)
    drill.run(until=5.25, ok=True)

    assert drill.states("back") == [(S.HOLDING, 5.25)]


def test_recovery_may_breach_and_hold_again_and_passes_after_settling() -> None:
    drill = Drill(spec("back", "error_rate(web, 2s) < 10%", Phase.RECOVERY), settle=5.0)
    drill.enter(Phase.RECOVERY)
    drill.run(until=3.0, ok=False)  # still broken
    drill.run(until=6.0, ok=True)  # window clean again 2 s after the last failure
    assert drill.tracker.recovered_since(drill.now) is None  # held 1 s: not settled
    drill.run(until=10.0, ok=True)
    assert drill.tracker.recovered_since(drill.now) == 5.0
    drill.run(until=12.0, ok=True)
    drill.exit(Phase.RECOVERY)

    assert drill.states("back") == [(S.BREACHED, 0.25), (S.HOLDING, 5.0), (S.PASSED, 12.0)]
    assert drill.tracker.finalize(drill.now) == {"back": S.PASSED}


def test_recovery_streak_restarts_after_a_relapse() -> None:
    drill = Drill(spec("back", "error_rate(web, 1s) < 10%", Phase.RECOVERY), settle=3.0)
    drill.enter(Phase.RECOVERY)
    drill.run(until=2.0, ok=True)
    drill.run(until=2.5, ok=False)
    drill.run(until=6.0, ok=True)

    assert drill.states("back") == [(S.HOLDING, 0.25), (S.BREACHED, 2.25), (S.HOLDING, 3.5)]
    assert drill.tracker.recovered_since(6.0) is None  # 2.5 s of the 3 s settle time
    assert drill.tracker.recovered_since(6.5) == 3.5


def test_recovery_that_has_not_settled_at_exit_fails() -> None:
    drill = Drill(spec("back", "error_rate(web, 1s) < 10%", Phase.RECOVERY), settle=5.0)
    drill.enter(Phase.RECOVERY)
    drill.run(until=3.0, ok=False)
    drill.run(until=6.0, ok=True)
    drill.exit(Phase.RECOVERY)

    last = drill.changes[-1]
    assert last.state is S.FAILED and "settle" in last.reason
    assert drill.tracker.finalize(drill.now) == {"back": S.FAILED}


def test_recovered_since_needs_every_recovery_sla() -> None:
    drill = Drill(
        spec("errors", "error_rate(web, 1s) < 10%", Phase.RECOVERY),
        spec("latency", "p99(web, 1s) < 1ms", Phase.RECOVERY),
        settle=1.0,
    )
    drill.enter(Phase.RECOVERY)
    drill.run(until=5.0, ok=True)  # latency is 5 ms: the second SLA never holds

    assert drill.tracker.recovered_since(drill.now) is None


def test_always_sla_runs_from_the_first_phase_to_finalize() -> None:
    drill = Drill(spec("alive", "count(web, 2s) > 0", Phase.ALWAYS))
    drill.run(until=3.0, ok=True)  # no phase yet: not judged
    assert drill.changes == []
    drill.enter(Phase.BEFORE)
    drill.run(until=4.0, ok=True)
    drill.exit(Phase.BEFORE)
    drill.enter(Phase.FAULT)
    drill.run(until=6.0, ok=True)

    assert drill.states("alive") == [(S.HOLDING, 5.0)]
    finals = drill.tracker.finalize(drill.now)
    assert finals == {"alive": S.PASSED}
    assert drill.states("alive") == [(S.HOLDING, 5.0)]  # finalize emits nothing


def test_finalize_fails_slas_whose_phase_never_ran() -> None:
    drill = Drill(
        spec("steady", "error_rate(web, 1s) < 10%", Phase.BEFORE),
        spec("back", "error_rate(web, 1s) < 10%", Phase.RECOVERY),
    )
    drill.enter(Phase.BEFORE)
    drill.run(until=2.0, ok=True)
    drill.exit(Phase.BEFORE)

    assert drill.tracker.finalize(drill.now) == {"steady": S.PASSED, "back": S.FAILED}


def test_finalize_judges_a_phase_still_open() -> None:
    drill = Drill(spec("fails", "error_rate(web, 1s) > 50%", Phase.FAULT))
    drill.enter(Phase.FAULT)
    drill.run(until=3.0, ok=False)

    assert drill.tracker.finalize(drill.now) == {"fails": S.PASSED}


def test_evaluate_emits_only_changes() -> None:
    drill = Drill(spec("steady", "error_rate(web, 1s) < 10%", Phase.BEFORE))
    drill.enter(Phase.BEFORE)
    drill.run(until=10.0, ok=True)
    for _ in range(5):
        assert drill.tracker.evaluate(drill.now) == []

    assert len(drill.changes) == 1


def held_spec(name: str, text: str, during: Phase, hold_for: float) -> SlaSpec:
    return SlaSpec(name, parse_assertion(text), during, "record", hold_for=hold_for)


def test_for_delays_holding_until_the_expression_held_that_long() -> None:
    drill = Drill(held_spec("steady", "error_rate(web, 1s) < 10%", Phase.BEFORE, 2.0))
    drill.enter(Phase.BEFORE)
    drill.run(until=5.0, ok=True)
    for _ in range(3):
        assert drill.tracker.evaluate(drill.now) == []
    drill.exit(Phase.BEFORE)

    # True from 1.0 (the window is full), HOLDING once it was true for 2 s.
    assert drill.states("steady") == [(S.HOLDING, 3.0), (S.PASSED, 5.0)]


def test_for_reports_a_breach_at_once_and_restarts_the_streak() -> None:
    drill = Drill(held_spec("back", "error_rate(web, 1s) < 10%", Phase.RECOVERY, 2.0), settle=1.0)
    drill.enter(Phase.RECOVERY)
    drill.run(until=3.0, ok=True)
    drill.run(until=3.5, ok=False)
    drill.run(until=6.0, ok=True)
    assert drill.tracker.recovered_since(6.0) is None  # true since 4.5, not yet for 2 s
    drill.run(until=8.0, ok=True)

    assert drill.states("back") == [(S.HOLDING, 2.25), (S.BREACHED, 3.25), (S.HOLDING, 6.5)]
    assert drill.tracker.recovered_since(8.0) == 4.5  # the streak began when it became true


def test_phase_ending_before_for_elapsed_fails_with_reason() -> None:
    drill = Drill(held_spec("steady", "error_rate(web, 1s) < 10%", Phase.BEFORE, 10.0))
    drill.enter(Phase.BEFORE)
    drill.run(until=3.0, ok=True)
    drill.exit(Phase.BEFORE)

    (change,) = drill.changes
    assert change.state is S.FAILED
    assert change.reason == "held for only 2.0s of the 10s it must hold for"


def test_playbook_for_becomes_hold_for() -> None:
    from drills.playbook.model.slas import Sla

    sla = Sla.model_validate(
        {"name": "s", "assert": "count(web, 1s) > 0", "during": "before", "for": "5s"}
    )
    assert sla.spec().hold_for == 5.0


def _feed(drill: Drill, until: float, latency: float) -> None:
    while drill.now + STEP <= until + 1e-9:
        drill.now = round(drill.now + STEP, 6)
        drill.store.add(Sample(t=drill.now, probe="web", ok=True, latency_ms=latency))
        drill.changes += drill.tracker.evaluate(drill.now)


def test_fault_latency_is_compared_with_the_frozen_baseline() -> None:
    drill = Drill(
        spec(
            "no slower", "p99(web.latency_ms, 2s) < 2 * baseline.p99(web.latency_ms)", Phase.FAULT
        ),
        spec("always", "last(web) <= baseline.max(web) + 5ms", Phase.ALWAYS),
    )
    drill.enter(Phase.BEFORE)
    _feed(drill, until=5.0, latency=10.0)
    assert drill.states("always") == []  # no baseline yet: unknown, so still pending
    drill.exit(Phase.BEFORE)
    drill.changes += drill.tracker.evaluate(drill.now)  # the baseline is known from now on
    _feed(drill, until=6.0, latency=100.0)  # outside every judged phase but "always"

    assert drill.tracker.baseline() == {
        ("p99", "web", "latency_ms"): pytest.approx(10.0, rel=0.01),
        ("max", "web", "latency_ms"): 10.0,
    }
    drill.enter(Phase.FAULT)
    _feed(drill, until=9.0, latency=15.0)
    _feed(drill, until=12.0, latency=25.0)
    drill.exit(Phase.FAULT)

    assert drill.states("no slower") == [(S.HOLDING, 8.0), (S.BREACHED, 9.25)]
    assert drill.states("always") == [(S.HOLDING, 5.0), (S.BREACHED, 5.25)]


def test_baseline_never_frozen_leaves_the_sla_pending_then_failed() -> None:
    drill = Drill(spec("vs", "avg(web, 1s) < baseline.avg(web)", Phase.FAULT))
    drill.enter(Phase.FAULT)
    _feed(drill, until=3.0, latency=10.0)
    drill.exit(Phase.FAULT)

    assert drill.states("vs") == [(S.FAILED, 3.0)]
    assert drill.changes[-1].reason == "no data"


# -- a drill that broke down: judging ends at the cut-off ----------------------------------

WHY = "the fault on db1 ended early"


def test_after_the_cut_off_nothing_is_failed_only_not_judged() -> None:
    drill = Drill(
        spec("steady", "error_rate(web, 1s) < 10%", Phase.BEFORE),
        spec("broken", "error_rate(web, 1s) > 50%", Phase.FAULT),
        spec("recovers", "error_rate(web, 1s) < 10%", Phase.RECOVERY),
        spec("up", "error_rate(web, 10s) < 90%", Phase.ALWAYS),
    )
    drill.enter(Phase.ALWAYS)
    drill.enter(Phase.BEFORE)
    drill.run(until=2.0, ok=True)
    drill.exit(Phase.BEFORE)  # steady passes at 2.0
    drill.enter(Phase.FAULT)
    drill.enter(Phase.RECOVERY)
    drill.run(until=5.0, ok=False)
    # The fault ends early at 5.0 (the agent reverted it); the runner notices at 7.0, by
    # which time "broken" has breached on what it saw after the cut-off.
    drill.run(until=7.0, ok=True)
    assert drill.states("broken")[-1] == (S.BREACHED, 5.5)

    changes = drill.tracker.finalize_at(5.0, WHY)

    assert drill.tracker.states() == {
        "steady": S.PASSED,  # passed before the cut-off: keeps its pass
        "broken": S.NOT_JUDGED,  # breached only after it
        "recovers": S.NOT_JUDGED,
        "up": S.NOT_JUDGED,  # an always SLA is judged at the end, which never came
    }
    assert {c.sla for c in changes} == {"broken", "recovers", "up"}
    assert all(c.state is S.NOT_JUDGED and c.reason == WHY and c.t == 5.0 for c in changes)
    # Nothing after the cut-off changes it, and the run's final verdicts keep it.
    assert drill.tracker.evaluate(9.0) == []
    assert drill.tracker.finalize(9.0)["broken"] is S.NOT_JUDGED


def test_a_breach_before_the_cut_off_keeps_its_failure() -> None:
    drill = Drill(spec("fast", "error_rate(web, 1s) < 10%", Phase.FAULT))
    drill.enter(Phase.FAULT)
    drill.run(until=3.0, ok=False)  # breached at 1.0
    assert drill.tracker.finalize_at(3.0, WHY) == []
    assert drill.tracker.states() == {"fast": S.FAILED}


def test_a_pass_that_a_later_phase_reopened_is_not_judged() -> None:
    # Passed the first fault; the second fault, cut short, could not be judged.
    drill = Drill(spec("broken", "error_rate(web, 1s) > 50%", Phase.FAULT))
    drill.enter(Phase.FAULT)
    drill.run(until=2.0, ok=False)
    drill.exit(Phase.FAULT)
    drill.enter(Phase.FAULT)
    drill.run(until=4.0, ok=False)
    assert drill.states("broken")[-1][0] is S.HOLDING
    drill.tracker.finalize_at(4.0, WHY)
    assert drill.tracker.states() == {"broken": S.NOT_JUDGED}


def test_a_breach_is_final_in_a_fault_phase_and_not_while_recovery_may_still_heal() -> None:
    fault = Drill(spec("fails", "error_rate(web, 2s) > 50%", Phase.FAULT))
    fault.enter(Phase.FAULT)
    fault.run(until=4.0, ok=True)
    assert [(c.state, c.final) for c in fault.changes] == [(S.BREACHED, True)]

    recovery = Drill(spec("back", "error_rate(web, 2s) < 10%", Phase.RECOVERY), settle=1.0)
    recovery.enter(Phase.RECOVERY)
    recovery.run(until=3.0, ok=False)
    recovery.run(until=8.0, ok=True)
    recovery.exit(Phase.RECOVERY)
    assert [(c.state, c.final) for c in recovery.changes] == [
        (S.BREACHED, False),
        (S.HOLDING, False),
        (S.PASSED, True),
    ]
