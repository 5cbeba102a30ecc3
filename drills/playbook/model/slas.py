"""SLAs: assertions over probe samples, judged in a phase of the run."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError

from drills.playbook.durations import MAX_SECONDS, format_duration
from drills.playbook.model.values import CEILING_HINT, Line, PositiveSeconds, strict_config
from verifier.assertions.syntax import AssertionSyntaxError, Expr, parse_assertion
from verifier.phases import Phase
from verifier.verdicts import SlaSpec


def _assertion(value: str) -> str:
    try:
        expr = parse_assertion(value)
    except AssertionSyntaxError as error:
        raise PydanticCustomError(
            "assertion_syntax",
            "invalid assertion: {message}",
            {"message": error.message, "offset": error.offset},
        ) from None
    for call in expr.calls():
        # A window is a duration like any other in a playbook: the same ceiling holds.
        if not call.window <= MAX_SECONDS:
            raise PydanticCustomError(
                "window_too_long",
                "the window of {call}() must be at most {most}, found '{text}'",
                {
                    "call": call.func,
                    "most": format_duration(MAX_SECONDS),
                    "text": call.window_text,
                    "offset": call.window_offset,
                    "hint": CEILING_HINT,
                },
            )
    return value


class Sla(BaseModel):
    model_config = strict_config()

    name: Annotated[Line, Field(min_length=1)]
    assert_: Annotated[str, AfterValidator(_assertion)] = Field(alias="assert")
    during: Phase
    # The assertion must hold (or break) for this long before the verdict changes.
    for_: PositiveSeconds | None = Field(default=None, alias="for")
    on_breach: Literal["abort", "record"] = "record"

    @cached_property
    def expr(self) -> Expr:
        """The parsed assertion (validated when the model was built)."""
        return parse_assertion(self.assert_)

    def spec(self) -> SlaSpec:
        return SlaSpec(self.name, self.expr, self.during, self.on_breach, hold_for=self.for_)
