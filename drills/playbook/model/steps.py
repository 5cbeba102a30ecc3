"""Steps: wait, fault, parallel groups, operator pauses and repeats.

The kind of a step is the key it has (``wait``, ``fault``, ``parallel``, ``pause``, ``repeat``);
every step may have a ``name``. A parallel group holds waits and faults only; a repeat holds
anything but another repeat.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Discriminator, Field, Tag

from drills.playbook.model.faults import Fault, FaultStep
from drills.playbook.model.values import Line, Seconds, Text, strict_config

STEP_KEYS = ("fault", "parallel", "repeat", "pause", "wait")


class WaitStep(BaseModel):
    model_config = strict_config()

    wait: Annotated[Seconds, Field(ge=0)]
    name: Line | None = None


class PauseSpec(BaseModel):
    model_config = strict_config()

    message: Text = ""


class PauseStep(BaseModel):
    """Holds the drill until an operator resumes it (the plan counts it as 0 s)."""

    model_config = strict_config()

    pause: PauseSpec
    name: Line | None = None


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in STEP_KEYS:
            if key in value:
                return f"{key}-step"
        return None
    if isinstance(value, FaultStep):
        return "fault-step"
    for key, model in _MODELS.items():
        if isinstance(value, model):
            return f"{key}-step"
    return None


ParallelChild = Annotated[
    Annotated[WaitStep, Tag("wait-step")] | Annotated[Fault, Tag("fault-step")],
    Discriminator(
        lambda value: (
            "fault-step"
            if _step_kind(value) == "fault-step"
            else "wait-step"
            if _step_kind(value) == "wait-step"
            else None
        ),
        custom_error_type="parallel_child",
        custom_error_message="a parallel group holds 'wait' and 'fault' steps only "
        "(no nested parallel, pause or repeat)",
    ),
]


class ParallelStep(BaseModel):
    """Children start together; the step lasts as long as the longest child."""

    model_config = strict_config()

    parallel: Annotated[list[ParallelChild], Field(min_length=1)]
    name: Line | None = None


RepeatChild = Annotated[
    Annotated[WaitStep, Tag("wait-step")]
    | Annotated[Fault, Tag("fault-step")]
    | Annotated[ParallelStep, Tag("parallel-step")]
    | Annotated[PauseStep, Tag("pause-step")],
    Discriminator(
        lambda value: None if _step_kind(value) == "repeat-step" else _step_kind(value),
        custom_error_type="repeat_child",
        custom_error_message="expected a step with 'wait', 'fault', 'parallel' or 'pause' "
        "(a repeat cannot hold another repeat)",
    ),
]


class RepeatSpec(BaseModel):
    model_config = strict_config()

    times: Annotated[int, Field(ge=2, le=100)]
    steps: Annotated[list[RepeatChild], Field(min_length=1)]


class RepeatStep(BaseModel):
    """Runs its steps ``times`` times; the planner expands it into ordinary steps."""

    model_config = strict_config()

    repeat: RepeatSpec
    name: Line | None = None


def expected_seconds(step: object) -> float:
    """How long a step is expected to last: the one rule the plan and the limit checks share.

    A wait lasts its time and a fault its duration (0 for an instantaneous one such as
    process.kill); a pause counts 0 (an operator decides when it ends); a parallel group lasts
    its longest child and a repeat its steps, ``times`` times.
    """
    if isinstance(step, WaitStep):
        return step.wait
    if isinstance(step, FaultStep):
        return step.seconds
    if isinstance(step, ParallelStep):
        return max((expected_seconds(child) for child in step.parallel), default=0.0)
    if isinstance(step, RepeatStep):
        return step.repeat.times * sum(expected_seconds(child) for child in step.repeat.steps)
    return 0.0


_MODELS: dict[str, type[BaseModel]] = {
    "wait": WaitStep,
    "parallel": ParallelStep,
    "repeat": RepeatStep,
    "pause": PauseStep,
}

Step = Annotated[
    Annotated[WaitStep, Tag("wait-step")]
    | Annotated[Fault, Tag("fault-step")]
    | Annotated[ParallelStep, Tag("parallel-step")]
    | Annotated[PauseStep, Tag("pause-step")]
    | Annotated[RepeatStep, Tag("repeat-step")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message=(
            "expected a step with 'wait', 'fault', 'parallel', 'pause' or 'repeat'"
        ),
    ),
]
