"""A progress line for the step that is running, for `drillhall run --server` on a terminal.

The run's sentences print as lines, as in a pipe; below them one line, rewritten in place with
a carriage return, shows the step now running, how long it has run and, when the step has a
length, a bar. In a pipe nothing of this is written: a CI log gets plain lines only.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from typing import Any, TextIO

from drills.playbook.redaction import redact

BAR_WIDTH = 20
CLEAR = "\r\x1b[K"  # back to the start of the line and erase it
# Step names are the playbook author's: no control character of theirs reaches the terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    return _CONTROL.sub(" ", text)


@dataclass
class Step:
    path: str
    name: str
    duration: float | None
    started: float  # the server's time when the step started
    seen: float  # the server's time of the latest event seen
    seen_at: float  # this process's monotonic clock when that event came


def progress_line(step: Step, elapsed: float, width: int = BAR_WIDTH) -> str:
    """'step 2 “drain” [######--------------] 9.0 of 30 s', or without a bar when the step
    has no length (it waits for something)."""
    name = f" “{step.name}”" if step.name else ""
    if step.duration and step.duration > 0:
        done = min(max(elapsed / step.duration, 0.0), 1.0)
        filled = round(done * width)
        bar = "#" * filled + "-" * (width - filled)
        shown = min(elapsed, step.duration)
        return f"step {step.path}{name} [{bar}] {shown:.1f} of {step.duration:g} s"
    return f"step {step.path}{name} running for {max(elapsed, 0.0):.1f} s"


class StepProgress:
    """Keeps the line for the latest step started and not yet finished."""

    def __init__(self, stream: TextIO, clock: Any = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self.steps: dict[str, Step] = {}
        self.shown = False

    def say(self, line: str) -> None:
        """A sentence: printed above the progress line, which is drawn again below it."""
        self._clear()
        self.stream.write(redact(printable(line)) + "\n")
        self.draw()

    def event(self, type: str, data: dict[str, Any], t: float) -> None:
        now = self.clock()
        for step in self.steps.values():
            step.seen, step.seen_at = max(step.seen, t), now
        if type == "step_started":
            path = str(data.get("path", data.get("step", "?")))
            duration = data.get("duration")
            length = float(duration) if isinstance(duration, int | float) else None
            name = str(data.get("name") or "")
            self.steps.pop(path, None)  # a restarted step goes to the end: it is the latest
            self.steps[path] = Step(path, name, length, t, t, now)
        elif type == "step_finished":
            self.steps.pop(str(data.get("path", data.get("step", "?"))), None)

    def draw(self) -> None:
        """Redraw the line; between events the step's time goes on by this process's clock."""
        self._clear()
        if not self.steps:
            return
        step = list(self.steps.values())[-1]
        elapsed = step.seen - step.started + (self.clock() - step.seen_at)
        columns = shutil.get_terminal_size().columns
        # Longer than the terminal, the line would wrap and the carriage return miss its start.
        line = redact(printable(progress_line(step, elapsed)))[: max(columns - 1, 10)]
        self.stream.write(line)
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        self._clear()
        self.stream.flush()

    def _clear(self) -> None:
        if self.shown:
            self.stream.write(CLEAR)
            self.shown = False
