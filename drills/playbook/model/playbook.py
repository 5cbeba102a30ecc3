"""The playbook (drillhall/v1): every section together."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from drills.playbook.model.collectors import KernelCollector
from drills.playbook.model.faults import FaultStep
from drills.playbook.model.limit_checks import check_limits
from drills.playbook.model.limits import Limits
from drills.playbook.model.metadata import Metadata
from drills.playbook.model.objectives import Objectives
from drills.playbook.model.probes import Probe
from drills.playbook.model.references import cross_check
from drills.playbook.model.slas import Sla
from drills.playbook.model.steps import ParallelStep, RepeatStep, Step
from drills.playbook.model.targets import Target
from drills.playbook.model.values import TargetName, strict_config
from verifier.verdicts import SlaSpec

# Validation context key: the caller (the parser) runs cross_check and check_limits itself,
# with positions, so the model need not run them (or dump itself) again.
CROSS_CHECKED = "cross_checked"


class Playbook(BaseModel):
    model_config = strict_config()

    api_version: Literal["drillhall/v1"] = Field(alias="apiVersion")
    kind: Literal["Playbook"]
    metadata: Metadata
    targets: dict[TargetName, Target]
    probes: Annotated[list[Probe], Field(min_length=1)]
    kernel: list[KernelCollector] = []
    steps: Annotated[list[Step], Field(min_length=1)]
    slas: list[Sla] = []
    objectives: Objectives = Objectives()
    limits: Limits = Limits()

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Playbook:
        """References resolve and the steps keep to the limits, however the model was built."""
        if info.context and info.context.get(CROSS_CHECKED):
            return self
        for problem in [*cross_check(self.model_dump()), *check_limits(self)]:
            raise PydanticCustomError("cross_reference", "{message}", {"message": problem.message})
        return self

    def sla_specs(self) -> list[SlaSpec]:
        """The SLAs in the form the verifier's SlaTracker takes."""
        return [sla.spec() for sla in self.slas]

    def fault_steps(self) -> Iterator[FaultStep]:
        """Every fault step, nested ones included, in document order."""
        yield from _faults(self.steps)


def _faults(steps: Sequence[object]) -> Iterator[FaultStep]:
    for step in steps:
        if isinstance(step, FaultStep):
            yield step
        elif isinstance(step, ParallelStep):
            yield from _faults(step.parallel)
        elif isinstance(step, RepeatStep):
            yield from _faults(step.repeat.steps)
