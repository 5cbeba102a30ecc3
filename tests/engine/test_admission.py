"""Admission decides which waiting run may start: a cap on runs at once, in the order runs were
created, and one run at a time per host and port. Pure: plans as stored with runs."""

from __future__ import annotations

from typing import Any

from drills.engine.admission import Candidate, Footprint, admit_in_order, decide


def plan(*faults: tuple[str, list[int] | None]) -> dict[str, Any]:
    """A stored plan with one step per fault (host, ports); one in a parallel step."""
    steps: list[dict[str, Any]] = []
    for host, ports in faults:
        params: dict[str, Any] = {"host": host}
        if ports is not None:
            params["ports"] = ports
        fault = {"kind": "network.partition", "host": host, "queue": f"agent.{host}",
                 "mechanism": "nftables", "params": params}  # fmt: skip
        steps.append(
            {"kind": "parallel", "faults": [], "children": [{"kind": "fault", "faults": [fault]}]}
        )
    return {"steps": steps}


def run(run_id: int, *faults: tuple[str, list[int] | None]) -> Candidate:
    return Candidate(run_id, Footprint.of_plan(plan(*faults)))


def test_footprint_reads_hosts_and_ports_from_nested_steps() -> None:
    footprint = Footprint.of_plan(plan(("db1", [6379, 26379]), ("web", None)))
    assert footprint.touches == {("db1", 6379), ("db1", 26379), ("web", None)}
    assert Footprint.of_plan(None).touches == frozenset()


def test_distinct_ports_of_one_host_do_not_overlap_and_a_whole_host_overlaps_any_port() -> None:
    assert run(1, ("db1", [6379])).footprint.overlap(run(2, ("db1", [80])).footprint) is None
    assert run(1, ("db1", [6379])).footprint.overlap(run(2, ("db2", [6379])).footprint) is None
    assert run(1, ("db1", None)).footprint.overlap(run(2, ("db1", [80])).footprint) == ("db1", 80)
    assert run(1, ("db1", [80])).footprint.overlap(run(2, ("db1", [80])).footprint) == ("db1", 80)


def test_a_run_within_the_cap_starts() -> None:
    decision = decide(run(3, ("db1", [3])), [run(1, ("db1", [1]))], [], limit=2)
    assert decision.admitted and decision.phrase == "admitted"


def test_runs_beyond_the_cap_wait_and_say_how_many_are_ahead() -> None:
    active = [run(1, ("db1", [1])), run(2, ("db1", [2]))]
    before = [run(3, ("db1", [3])), run(4, ("db1", [4])), run(5, ("db1", [5]))]
    decision = decide(run(6, ("db1", [6])), active, before, limit=2)
    assert not decision.admitted
    assert decision.phrase == (
        "queued, 3 ahead: 2 runs are in progress and at most 2 run at once (DRILLHALL_MAX_RUNS)"
    )


def test_an_older_waiting_run_takes_the_free_slot_first() -> None:
    decision = decide(run(4, ("db1", [4])), [run(1, ("db1", [1]))], [run(3, ("db1", [3]))], limit=2)
    assert not decision.admitted and decision.ahead == 1


def test_a_run_on_the_same_host_and_port_waits_for_the_one_in_progress() -> None:
    decision = decide(run(7, ("db1", [6379])), [run(4, ("db1", [6379]))], [], limit=100)
    assert not decision.admitted
    assert decision.reason == (
        "run 4, which is in progress, faults db1 port 6379 too, and runs that fault the same "
        "host and port run one after the other"
    )


def test_a_whole_host_fault_waits_for_any_port_of_that_host() -> None:
    decision = decide(run(7, ("db1", None)), [run(4, ("db1", [80]))], [], limit=100)
    assert not decision.admitted and "run 4" in decision.reason and "db1 port 80" in decision.reason


def test_a_conflict_with_an_older_waiting_run_keeps_their_order() -> None:
    active = [run(1, ("web", None))]
    decision = decide(run(3, ("db1", [6379])), active, [run(2, ("db1", [6379]))], limit=1)
    assert not decision.admitted
    assert decision.reason.startswith("run 2, which was queued first, faults db1 port 6379 too")


def test_a_run_held_back_by_a_conflict_does_not_hold_up_the_runs_behind_it() -> None:
    active = [run(1, ("db1", [6379]))]
    blocked = run(2, ("db1", [6379]))
    decision = decide(run(3, ("db2", [6379])), active, [blocked], limit=3)
    assert decision.admitted and decision.ahead == 0


def test_admit_in_order_fills_the_free_slots_oldest_first_and_skips_conflicts() -> None:
    active = [run(1, ("db1", [6379]))]
    waiting = [
        run(2, ("db1", [6379])),
        run(3, ("db1", [80])),
        run(4, ("db2", None)),
        run(5, ("web", None)),
    ]
    decisions = admit_in_order(waiting, active, limit=3)
    assert [(c.run_id, d.admitted, d.ahead) for c, d in decisions] == [
        (2, False, 0),  # waits for run 1's port
        (3, True, 0),
        (4, True, 0),
        (5, False, 0),  # three in progress now: the cap
    ]
    assert "at most 3 run at once" in decisions[3][1].reason
