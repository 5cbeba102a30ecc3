"""A fault that ended early for the tool's own reasons ends the run in error, never failed.

The agent reverted it (its worker restarted, a halt), or its lease ran out because renewals
went unanswered: from then on the drill is not the one the playbook describes, so the run
stops faulting, reverts the rest, says when and why, and judges no SLA on what came after.
On the fake clock: a 60 s fault, cut short 20 s in.
"""

from __future__ import annotations

import re

from drills.engine.clock import FAKE_EPOCH
from drills.engine.events import EventType
from drills.engine.runner import RunOptions
from drills.engine.states import RunState
from tests.engine.fake_drill import Drill, drill
from tests.engine.reading import of_type, shop_drill, states

PLAYBOOK = shop_drill(
    "cut-short",
    """\
steps:
  - wait: 1s
  - {fault: network.partition, target: db, from: [app], duration: 60s}
slas:
  - name: healthy first
    assert: error_rate(shop, 1s) < 10%
    during: before
  - name: broken during
    assert: error_rate(shop, 1s) > 50%
    during: fault
  - name: checkout fast during
    assert: error_rate(shop, 1s) < 10%
    during: fault
  - name: recovers
    assert: error_rate(shop, 1s) < 10%
    during: recovery
objectives: {rto: 90s}
""",
)

FAULT = "r7-s2-a1"
APPLIED = FAKE_EPOCH + 1.0  # after the 1 s baseline
CUT = APPLIED + 20.0  # 22:13:41 UTC


def cut_short(**kw) -> Drill:  # type: ignore[no-untyped-def]
    options = RunOptions(lease_seconds=9, settle_seconds=1, tick_seconds=0.1)
    return drill(PLAYBOOK, options=options, **kw)


def test_a_fault_the_agent_reverted_ends_the_run_in_error_with_when_and_why() -> None:
    d = cut_short()
    d.driver.end_early(CUT, "worker died")
    outcome = d.runner.run()

    sentence = (
        "the network.partition fault on h2 ended 40.0 s early at 22:13:41 UTC: the agent "
        "reverted it (worker died); the drill's results after that point cannot be judged"
    )
    assert outcome.state is RunState.ERROR
    assert outcome.reason == sentence
    [event] = of_type(d.sink, EventType.FAULT_ENDED_EARLY)
    assert event["fault_id"] == FAULT and event["host"] == "h2"
    assert abs(event["at"] - CUT) < 1e-6 and event["detail"] == "worker died"
    assert event["message"] == sentence
    assert states(d.sink)[-3:] == ["observing", "reverting", "error"]
    # It stopped faulting: the rest was reverted through the agent, and nothing renewed after.
    assert d.driver.calls[-1] == ("revert", FAULT) and d.driver.active == set()
    assert of_type(d.sink, EventType.ERROR) == [{"message": sentence}]


def test_slas_are_not_judged_after_the_fault_ended_early_and_never_failed_for_it() -> None:
    d = cut_short()
    d.driver.end_early(CUT, "worker died")
    outcome = d.runner.run()

    assert outcome.verdicts == {
        "healthy first": "passed",  # passed before the fault: keeps its pass
        "checkout fast during": "failed",  # breached by the fault, before the cut-off
        "broken during": "not judged",  # held until the cut-off, never finished
        "recovers": "not judged",
    }
    # "broken during" did breach, once the service healed behind the drill's back; that
    # breach is not the system's failure.
    verdicts = [d for d in of_type(d.sink, EventType.VERDICT) if d["sla"] == "broken during"]
    assert [v["state"] for v in verdicts][-2:] == ["breached", "not judged"]
    assert verdicts[-1]["reason"] == (
        "not judged: the network.partition fault on h2 ended early at 22:13:41 UTC"
    )
    assert "failed" not in outcome.reason


def test_a_lease_that_ran_out_unrenewed_ended_the_fault_when_it_expired() -> None:
    d = cut_short()
    d.driver.silent = (CUT, float("inf"))  # the agent's worker hangs: no renewal answered
    outcome = d.runner.run()

    assert outcome.state is RunState.ERROR
    [event] = of_type(d.sink, EventType.FAULT_ENDED_EARLY)
    assert event["detail"] == "lease expired"
    # The last renewal answered went out at most one round (3 s) before the agent went
    # silent; the lease ran out 9 s after it.
    assert CUT + 9 - 3 <= event["at"] <= CUT + 9
    assert re.fullmatch(
        r"the network\.partition fault on h2 ended \d+\.\d s early at 22:13:4\d UTC: its lease "
        r"ran out on the host: no renewal was answered for \d+\.\d s, so the agent's janitor "
        r"reverted it; the drill's results after that point cannot be judged",
        outcome.reason,
    ), outcome.reason
    assert of_type(d.sink, EventType.LEASE_WARNING)  # said first, while it could still recover
    assert outcome.verdicts["broken during"] == "not judged"


def test_a_renewal_answered_late_is_a_warning_not_an_end() -> None:
    d = cut_short()
    d.driver.silent = (CUT, CUT + 5)  # silent for less than a lease, then answering again
    outcome = d.runner.run()
    assert outcome.state is RunState.FAILED  # "checkout fast during" is breached by the fault
    assert outcome.verdicts["broken during"] == "passed"
    assert len(of_type(d.sink, EventType.LEASE_WARNING)) == 1
    assert not of_type(d.sink, EventType.FAULT_ENDED_EARLY)


def test_a_halt_that_reverted_the_fault_is_still_an_abort() -> None:
    drills: list[Drill] = []

    def should_abort() -> str | None:  # the halt flag is set at CUT
        return "halted: game day over" if drills[0].clock.now() >= CUT else None

    d = cut_short(abort=should_abort)
    drills.append(d)
    # The agents revert at once (a halt detail on the renewal), and the run's next abort
    # poll is far away: the renewal is what tells it first.
    d.runner.opt.abort_poll_seconds = 1000
    d.driver.end_early(CUT, "halt requested")
    outcome = d.runner.run()
    assert outcome.state is RunState.ABORTED
    assert outcome.reason == "halted: game day over"
    assert of_type(d.sink, EventType.FAULT_ENDED_EARLY)  # said, but the abort is the cause
    assert d.driver.active == set()


def test_the_command_line_prints_the_sentence() -> None:
    from drills.cli.event_lines import describe

    d = cut_short()
    d.driver.end_early(CUT, "worker died")
    d.runner.run()
    [event] = of_type(d.sink, EventType.FAULT_ENDED_EARLY)
    assert describe("fault_ended_early", event) == f"fault ended early: {event['message']}"


def test_a_fault_the_agent_ended_in_the_last_moment_of_its_step_ran_its_course() -> None:
    # The agent's worker restarted half a second before the step's own revert: the fault was
    # on for its whole planned length, give or take a moment; nothing ended early.
    options = RunOptions(lease_seconds=1.5, settle_seconds=1, tick_seconds=0.1)
    d = drill(PLAYBOOK, options=options)  # renewals every 0.5 s: the last one sees it
    d.driver.end_early(APPLIED + 60.0 - 0.6, "worker died")
    outcome = d.runner.run()
    assert outcome.state is not RunState.ERROR, outcome.reason
    assert of_type(d.sink, EventType.FAULT_ENDED_EARLY) == []
