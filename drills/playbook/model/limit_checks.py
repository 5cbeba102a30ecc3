"""The steps against the playbook's own ``limits``, as far as that is known without an inventory.

Every wait and fault must fit in ``limits.max_duration``, and so must the whole drill as the
planner times it (``expected_seconds``, repeats expanded); every fault must be in
``limits.allowed_faults``; and the hosts named outright (``{host: db1}``) must not already be
more than ``limits.max_targets``. What only the inventory can tell (hosts a selector picks,
protected hosts) stays with the planner.

Problems carry the path of the offending value, so the parser gives each its line and column;
the Playbook model runs the same checks on itself, so no playbook built any other way skips
them. Checked on the validated model: the durations are already numbers there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from drills.playbook.durations import format_duration
from drills.playbook.model.faults import FaultStep
from drills.playbook.model.references import CrossProblem, Path
from drills.playbook.model.steps import ParallelStep, RepeatStep, WaitStep, expected_seconds
from drills.playbook.model.targets import HostTarget

if TYPE_CHECKING:
    from drills.playbook.model.playbook import Playbook

_RAISE_LIMIT = "shorten the steps or raise limits.max_duration"


def check_limits(playbook: Playbook) -> list[CrossProblem]:
    """Every way the steps break the playbook's limits, in document order."""
    return [
        *_too_long(playbook),
        *_total_too_long(playbook),
        *_not_allowed(playbook),
        *_too_many_hosts(playbook),
    ]


def _too_long(playbook: Playbook) -> Iterator[CrossProblem]:
    """A wait or a fault that alone lasts longer than the whole drill may."""
    limit = playbook.limits.max_duration
    for path, step in _every_step(playbook.steps, ("steps",)):
        seconds = expected_seconds(step)
        if isinstance(step, WaitStep | FaultStep) and seconds > limit:
            what = "the wait" if isinstance(step, WaitStep) else f"the fault {step.fault}"
            yield CrossProblem(
                _duration_path(path, step),
                f"{what} lasts {format_duration(seconds)}, longer than {_limit(playbook)}",
                _RAISE_LIMIT,
            )


def _total_too_long(playbook: Playbook) -> Iterator[CrossProblem]:
    """The drill as a whole, reported where its length first crosses the limit."""
    limit = playbook.limits.max_duration
    elapsed, crossing = 0.0, None
    # Added up step by step, repeats expanded, exactly as the planner does, so both agree to
    # the last bit of the float.
    for path, step, iteration in _in_order(playbook.steps):
        seconds = expected_seconds(step)
        elapsed += seconds
        if crossing is None and elapsed > limit:
            crossing = (path, step, iteration, elapsed, seconds)
    if crossing is None:
        return
    path, step, iteration, reached, seconds = crossing
    if seconds > limit:
        return  # that step alone is too long, and _too_long says so at the same place
    if isinstance(step, ParallelStep):
        # The group ends with its longest child: that child's duration is the one to point at.
        number, child = max(enumerate(step.parallel), key=lambda pair: expected_seconds(pair[1]))
        path, step, which = (*path, "parallel", number), child, "the parallel group around this"
    else:
        which = "this"
    kind = "wait" if isinstance(step, WaitStep) else "fault"
    whole = f"; the whole plan takes {format_duration(elapsed)}" if elapsed > reached else ""
    yield CrossProblem(
        _duration_path(path, step),
        f"the drill has run {format_duration(reached)} when {which} {kind} ends{iteration}, "
        f"longer than {_limit(playbook)}{whole}",
        _RAISE_LIMIT,
    )


def _not_allowed(playbook: Playbook) -> Iterator[CrossProblem]:
    allowed = playbook.limits.allowed_faults
    if allowed is None:
        return
    for path, step in _every_step(playbook.steps, ("steps",)):
        if isinstance(step, FaultStep) and step.fault not in allowed:
            yield CrossProblem(
                (*path, "fault"),
                f"fault {step.fault} is not in limits.allowed_faults "
                f"({', '.join(allowed) or 'none'})",
            )


def _too_many_hosts(playbook: Playbook) -> Iterator[CrossProblem]:
    """Hosts named outright already over limits.max_targets (selectors add more at plan time)."""
    most = playbook.limits.max_targets
    if most is None:
        return
    hosts: list[str] = []
    for path, step in _every_step(playbook.steps, ("steps",)):
        if not isinstance(step, FaultStep):
            continue
        target = playbook.targets.get(step.target)
        if not isinstance(target, HostTarget) or target.host in hosts:
            continue
        hosts.append(target.host)
        if len(hosts) > most:
            yield CrossProblem(
                (*path, "target"),
                f"with target '{step.target}' (host {target.host}) the drill faults "
                f"{len(hosts)} hosts ({', '.join(hosts)}), more than limits.max_targets ({most})",
            )
            return


def _limit(playbook: Playbook) -> str:
    spelt = format_duration(playbook.limits.max_duration)
    if "max_duration" not in playbook.limits.model_fields_set:
        spelt += ", the default"  # the author may not know there is a limit at all
    return f"limits.max_duration ({spelt})"


def _duration_path(path: Path, step: object) -> Path:
    """Where a step's length is written (a process.kill has none: the step itself)."""
    if isinstance(step, WaitStep):
        return (*path, "wait")
    return (*path, "duration") if hasattr(step, "duration") else path


def _every_step(steps: Sequence[object], path: Path) -> Iterator[tuple[Path, object]]:
    """Every step once, as written, nested ones included, with its path in the YAML."""
    for index, step in enumerate(steps):
        here = (*path, index)
        yield here, step
        if isinstance(step, ParallelStep):
            yield from _every_step(step.parallel, (*here, "parallel"))
        elif isinstance(step, RepeatStep):
            yield from _every_step(step.repeat.steps, (*here, "repeat", "steps"))


def _in_order(steps: Sequence[object]) -> Iterator[tuple[Path, object, str]]:
    """The top-level steps as they run, repeats expanded: (path, step, which iteration)."""
    for index, step in enumerate(steps):
        if not isinstance(step, RepeatStep):
            yield ("steps", index), step, ""
            continue
        times = step.repeat.times
        for iteration in range(1, times + 1):
            for number, child in enumerate(step.repeat.steps):
                path = ("steps", index, "repeat", "steps", number)
                yield path, child, f" in iteration {iteration} of {times} of the repeat"
