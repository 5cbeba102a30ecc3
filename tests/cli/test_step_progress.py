"""The running step's progress line (pure logic: a string stream and a clock we move)."""

from __future__ import annotations

import io

from drills.cli.step_progress import CLEAR, Step, StepProgress, progress_line


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_step_with_a_length_has_a_bar_that_fills_and_stops_at_its_length():
    step = Step("2", "drain", 30.0, started=0.0, seen=0.0, seen_at=0.0)
    assert progress_line(step, 9.0, width=10) == "step 2 “drain” [###-------] 9.0 of 30 s"
    assert progress_line(step, 45.0, width=10) == "step 2 “drain” [##########] 30.0 of 30 s"


def test_a_step_without_a_length_says_how_long_it_has_run():
    step = Step("3.1", "", None, started=0.0, seen=0.0, seen_at=0.0)
    assert progress_line(step, 4.25) == "step 3.1 running for 4.2 s"


def test_sentences_print_above_the_line_which_is_rewritten_in_place_until_the_step_ends():
    out, clock = io.StringIO(), Clock()
    progress = StepProgress(out, clock=clock)
    progress.event("step_started", {"path": "1", "name": "wait", "duration": 10}, t=1000.0)
    progress.draw()
    clock.now += 5.0  # no event for five seconds: the line still moves
    progress.draw()
    progress.say("  + 5.00s fault applied")
    progress.event("step_finished", {"path": "1"}, t=1010.0)
    progress.draw()
    progress.close()
    text = out.getvalue()
    assert text == (
        "step 1 “wait” [--------------------] 0.0 of 10 s"
        + CLEAR
        + "step 1 “wait” [##########----------] 5.0 of 10 s"
        + CLEAR
        + "  + 5.00s fault applied\n"
        + "step 1 “wait” [##########----------] 5.0 of 10 s"
        + CLEAR
    )


def test_a_step_name_cannot_write_control_characters_to_the_terminal():
    out = io.StringIO()
    progress = StepProgress(out, clock=Clock())
    progress.event("step_started", {"path": "1", "name": "x\x1b]0;owned\x07", "duration": 1}, 0.0)
    progress.draw()
    progress.say("evil \x1b[2J sentence")
    assert "\x1b]" not in out.getvalue() and "\x1b[2J" not in out.getvalue()
    assert "\x07" not in out.getvalue()
