"""The playbook format (drillhall/v1) as pydantic models.

Attributes are snake_case; the YAML keys are the aliases (``apiVersion``, ``from``, ``assert``)
and ``model_dump()`` writes them back, durations included as strings ("10s"), so a dump
validates again. Durations must carry a unit: ``10`` is an error, ``10s`` is ten seconds.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from drills.playbook.durations import DURATION_HELP, format_duration, parse_duration
from verifier.assertions.parser import AssertionSyntaxError, Expr, parse_assertion
from verifier.phases import Phase
from verifier.verdicts import SlaSpec

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
FAULTS = ("network.partition",)  # the closed catalogue of fault names

# Union members of a step carry these tags; pydantic puts them in error locations.
STEP_TAGS = ("wait-step", "fault-step")


def _strict_config() -> ConfigDict:
    return ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


def _seconds(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return value  # let the float validator report the type
    if not isinstance(value, str):
        raise PydanticCustomError(
            "duration_unit",
            DURATION_HELP + "; a bare number has no unit",
            {"hint": f"write '{value}s' for {value} seconds"},
        )
    try:
        return parse_duration(value)
    except ValueError:
        raise PydanticCustomError(
            "duration", DURATION_HELP + ", got '{text}'", {"text": value}
        ) from None


Seconds = Annotated[
    float,
    BeforeValidator(_seconds),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m|h)\s*$",
            "examples": ["150ms", "2s", "10m"],
        }
    ),
]


def _slug(value: str) -> str:
    if not re.fullmatch(NAME_PATTERN, value):
        raise PydanticCustomError(
            "name",
            "'{value}' is not a valid name: use lowercase letters, digits and '-' "
            "(up to 63 characters, starting with a letter or digit)",
            {"value": value},
        )
    return value


Slug = Annotated[str, AfterValidator(_slug), Field(json_schema_extra={"pattern": NAME_PATTERN})]


def _known_fault(value: Any) -> Any:
    if isinstance(value, str) and value not in FAULTS:
        close = difflib.get_close_matches(value, FAULTS, n=1, cutoff=0.5)
        raise PydanticCustomError(
            "unknown_fault",
            "unknown fault '{name}'; known faults: {known}",
            {
                "name": value,
                "known": ", ".join(FAULTS),
                "hint": f"did you mean '{close[0]}'?" if close else None,
            },
        )
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PydanticCustomError(
            "url", "expected an http:// or https:// URL with a host, got '{url}'", {"url": value}
        )
    return value


def _status_code(value: int) -> int:
    if not 100 <= value <= 599:
        raise PydanticCustomError(
            "status", "HTTP status codes are 100..599, got {code}", {"code": value}
        )
    return value


class Metadata(BaseModel):
    model_config = _strict_config()

    name: Slug
    description: str = ""
    owner: str = ""
    tags: list[str] = []


class Target(BaseModel):
    model_config = _strict_config()

    host: str
    service: str | None = None


class HttpSpec(BaseModel):
    model_config = _strict_config()

    url: Annotated[str, AfterValidator(_http_url)]
    timeout: Annotated[Seconds, Field(gt=0)] = 1.0
    expect_status: list[Annotated[int, AfterValidator(_status_code)]] | None = None


class HttpProbe(BaseModel):
    model_config = _strict_config()

    name: Slug
    http: HttpSpec
    every: Annotated[Seconds, Field(ge=0.1)] = 0.5


class WaitStep(BaseModel):
    model_config = _strict_config()

    wait: Seconds
    name: str | None = None


class FaultStep(BaseModel):
    model_config = _strict_config()

    name: str | None = None
    fault: Annotated[Literal["network.partition"], BeforeValidator(_known_fault)]
    target: str
    from_: list[str] = Field(alias="from", min_length=1)
    direction: Literal["both", "in", "out"] = "both"
    duration: Annotated[Seconds, Field(gt=0)]


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "fault" in value:
            return "fault-step"
        if "wait" in value:
            return "wait-step"
        return None
    if isinstance(value, FaultStep):
        return "fault-step"
    if isinstance(value, WaitStep):
        return "wait-step"
    return None


Step = Annotated[
    Annotated[WaitStep, Tag("wait-step")] | Annotated[FaultStep, Tag("fault-step")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="expected a step with 'wait' or 'fault'",
    ),
]


def _assertion(value: str) -> str:
    try:
        parse_assertion(value)
    except AssertionSyntaxError as error:
        raise PydanticCustomError(
            "assertion_syntax",
            "invalid assertion: {message}",
            {"message": error.message, "offset": error.offset},
        ) from None
    return value


class Sla(BaseModel):
    model_config = _strict_config()

    name: str = Field(min_length=1)
    assert_: Annotated[str, AfterValidator(_assertion)] = Field(alias="assert")
    during: Phase
    on_breach: Literal["abort", "record"] = "record"

    @cached_property
    def expr(self) -> Expr:
        """The parsed assertion (validated when the model was built)."""
        return parse_assertion(self.assert_)

    def spec(self) -> SlaSpec:
        return SlaSpec(self.name, self.expr, self.during, self.on_breach)


class Objectives(BaseModel):
    model_config = _strict_config()

    rto: Seconds | None = None
    rpo: Annotated[int, Field(ge=0)] | None = None


class Limits(BaseModel):
    model_config = _strict_config()

    max_duration: Annotated[Seconds, Field(gt=0)] = 600.0


class Playbook(BaseModel):
    model_config = _strict_config()

    api_version: Literal["drillhall/v1"] = Field(alias="apiVersion")
    kind: Literal["Playbook"]
    metadata: Metadata
    targets: dict[str, Target]
    probes: list[HttpProbe] = Field(min_length=1)
    steps: list[Step] = Field(min_length=1)
    slas: list[Sla] = []
    objectives: Objectives = Objectives()
    limits: Limits = Limits()

    @model_validator(mode="after")
    def _references_resolve(self) -> Playbook:
        # The parser reports every one of these with its position from the raw data; this
        # check keeps a Playbook built any other way (API, database) just as consistent.
        for problem in cross_check(self.model_dump()):
            raise PydanticCustomError("cross_reference", "{message}", {"message": problem.message})
        return self

    def sla_specs(self) -> list[SlaSpec]:
        """The SLAs in the form the verifier's SlaTracker takes."""
        return [sla.spec() for sla in self.slas]


@dataclass(frozen=True)
class CrossProblem:
    """A reference that does not resolve; ``offset`` is inside the string at ``path``."""

    path: tuple[str | int, ...]
    message: str
    hint: str | None = None
    offset: int = 0


def _hint(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'?" if close else None


def cross_check(data: Any) -> list[CrossProblem]:
    """References between sections, checked on raw playbook data (YAML keys)."""
    return list(_cross_problems(data)) if isinstance(data, dict) else []


def _cross_problems(data: dict[str, Any]) -> Iterator[CrossProblem]:
    targets = data.get("targets")
    target_names = [str(name) for name in targets] if isinstance(targets, dict) else None
    probe_names: list[str] = []
    yield from _duplicates(data.get("probes"), "probes", "probe", probe_names)
    yield from _duplicates(data.get("slas"), "slas", "SLA", [])
    steps = data.get("steps")
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict) or "fault" not in step:
            continue
        target = step.get("target")
        sources = step.get("from")
        if target_names is not None and isinstance(target, str) and target not in target_names:
            yield CrossProblem(
                ("steps", index, "target"),
                f"unknown target '{target}'; targets: {', '.join(target_names) or 'none'}",
                _hint(target, target_names),
            )
        for pos, source in enumerate(sources if isinstance(sources, list) else []):
            if not isinstance(source, str):
                continue
            path = ("steps", index, "from", pos)
            if target_names is not None and source not in target_names:
                yield CrossProblem(
                    path,
                    f"unknown target '{source}'; targets: {', '.join(target_names) or 'none'}",
                    _hint(source, target_names),
                )
            elif source == target:
                yield CrossProblem(path, f"'{source}' cannot be partitioned from itself")
    slas = data.get("slas")
    for index, sla in enumerate(slas if isinstance(slas, list) else []):
        text = sla.get("assert") if isinstance(sla, dict) else None
        if not isinstance(text, str):
            continue
        try:
            expr = parse_assertion(text)
        except AssertionSyntaxError:
            continue  # reported by the model validation
        for call in expr.calls():
            if call.probe not in probe_names:
                yield CrossProblem(
                    ("slas", index, "assert"),
                    f"unknown probe '{call.probe}' in assertion; "
                    f"probes: {', '.join(probe_names) or 'none'}",
                    _hint(call.probe, probe_names),
                    call.probe_offset,
                )


def _duplicates(items: Any, section: str, what: str, names: list[str]) -> Iterator[CrossProblem]:
    """Report repeated names in a list section; fills ``names`` with the names seen."""
    for index, item in enumerate(items if isinstance(items, list) else []):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        if name in names:
            yield CrossProblem((section, index, "name"), f"duplicate {what} name '{name}'")
        else:
            names.append(name)
