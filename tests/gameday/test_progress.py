"""What a game-day run does next, from how its drills stand (no database, no clock waits)."""

from __future__ import annotations

import datetime as dt

from drills.gameday.document import Policy
from drills.gameday.progress import Action, DrillStatus, GameDayState, next_step

NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
STOP = Policy.model_validate({"on_failure": "stop"})
GO_ON = Policy.model_validate({"on_failure": "continue"})


def day(*states: str | None, reasons: dict[int, str] | None = None) -> list[DrillStatus]:
    ended = NOW - dt.timedelta(seconds=5)
    return [
        DrillStatus(
            i,
            f"drill-{i + 1}",
            state,
            ended if state in ("passed", "failed", "aborted", "error") else None,
            (reasons or {}).get(i, ""),
        )
        for i, state in enumerate(states)
    ]


def test_a_new_game_day_starts_its_first_drill() -> None:
    assert next_step(STOP, day(None, None), NOW).action is Action.START
    assert next_step(STOP, day(None, None), NOW).position == 0


def test_a_running_drill_is_watched_and_nothing_else_starts() -> None:
    step = next_step(STOP, day("injecting", None), NOW)
    assert (step.action, step.position) == (Action.WATCH, 0)


def test_the_next_drill_starts_when_the_previous_passed() -> None:
    step = next_step(STOP, day("passed", None), NOW)
    assert (step.action, step.position) == (Action.START, 1)


def test_the_pause_between_drills_is_waited_out() -> None:
    paused = Policy.model_validate({"pause": "30s"})
    step = next_step(paused, day("passed", None), NOW)
    assert step.action is Action.WAIT and step.until == NOW + dt.timedelta(seconds=25)
    later = next_step(paused, day("passed", None), NOW + dt.timedelta(seconds=26))
    assert (later.action, later.position) == (Action.START, 1)


def test_a_drill_whose_result_is_not_written_yet_is_still_watched() -> None:
    # The terminal state lands a moment before the result that closes the record and
    # carries the reason: a look in between waits for the reason instead of ending without it.
    closing = [DrillStatus(0, "drill-1", "failed"), DrillStatus(1, "drill-2")]
    step = next_step(STOP, closing, NOW)
    assert (step.action, step.position) == (Action.WATCH, 0)


def test_stop_at_first_failure_does_not_start_the_second_and_says_why() -> None:
    drills = day("failed", None, reasons={0: "checkout stays up failed"})
    step = next_step(STOP, drills, NOW)
    assert (step.action, step.state) == (Action.FINISH, GameDayState.FAILED)
    assert step.reason == (
        "drill 1 (drill-1) failed: checkout stays up failed; so drill 2 (drill-2) did not start"
    )


def test_continue_runs_the_rest_and_the_day_is_failed() -> None:
    assert next_step(GO_ON, day("failed", None), NOW).action is Action.START
    step = next_step(GO_ON, day("failed", "passed"), NOW)
    assert (step.action, step.state) == (Action.FINISH, GameDayState.FAILED)
    assert step.reason == "2 drills: 1 failed, 1 passed"


def test_an_aborted_drill_stops_the_day_whatever_the_policy() -> None:
    drills = day("aborted", None, reasons={0: "the approval did not come in time"})
    step = next_step(GO_ON, drills, NOW)
    assert (step.action, step.state) == (Action.FINISH, GameDayState.ABORTED)
    assert step.reason.startswith("drill 1 (drill-1) was aborted: the approval did not come")


def test_every_drill_passed_is_a_passed_day() -> None:
    step = next_step(STOP, day("passed", "passed"), NOW)
    assert (step.action, step.state, step.reason) == (
        Action.FINISH,
        GameDayState.PASSED,
        "every drill passed (2 of 2)",
    )


def test_a_stop_aborts_the_running_drill_first_then_ends_the_day() -> None:
    step = next_step(STOP, day("observing", None), NOW, stop_reason="halt all: game over")
    assert (step.action, step.position) == (Action.STOP_DRILL, 0)
    step = next_step(STOP, day("aborted", None), NOW, stop_reason="halt all: game over")
    assert (step.action, step.state) == (Action.FINISH, GameDayState.ABORTED)
    assert step.reason == (
        "the game day was stopped: halt all: game over; so drill 2 (drill-2) did not start"
    )


def test_a_stop_during_the_pause_ends_the_day_without_starting_more() -> None:
    paused = Policy.model_validate({"pause": "1m"})
    step = next_step(paused, day("passed", None), NOW, stop_reason="aborted from its page")
    assert (step.action, step.state) == (Action.FINISH, GameDayState.ABORTED)
