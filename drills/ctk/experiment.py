"""Reading a Chaos Toolkit experiment and checking it has the documented shape.

The shape follows Chaos Toolkit's experiment specification: ``title``, ``description`` and a
non-empty ``method`` are required; activities are probes or actions with a ``provider`` of
type python, http or process, or a ``ref`` to a declared activity; steady-state probes carry
a ``tolerance``. Checking is separate from converting so that a file that is not an
experiment fails early, with every problem and where it is.

An experiment is untrusted input, read with the playbook loader's limits: YAML goes through
that loader (no aliases, anchors or tags, no duplicate keys, MAX_BYTES and MAX_DEPTH), so an
alias bomb is refused instead of expanded into every line of the converted playbook. JSON is
read by ``json`` (YAML 1.1 would turn ``1e3`` into a string) under the same size and depth.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from drills.playbook.errors import PlaybookError
from drills.playbook.loader import (
    MAX_BYTES,
    MAX_DEPTH,
    TOO_DEEP,
    check_size,
    load_yaml,
    position_of_index,
)

ACTIVITY_TYPES = ("probe", "action")
PROVIDER_TYPES = ("python", "http", "process")
TOLERANCE_TYPES = ("probe", "regex", "jsonpath", "range")


class CtkError(Exception):
    """The file is not a valid Chaos Toolkit experiment; ``problems`` say where and why."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: not a valid Chaos Toolkit experiment")
        self.source = source
        self.problems = problems

    def __str__(self) -> str:
        lines = [f"{self.source}: not a valid Chaos Toolkit experiment:"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


def load_experiment(path: str | Path) -> dict[str, Any]:
    """Read, decode (JSON or YAML) and check an experiment file; raises CtkError."""
    path = Path(path)
    source = str(path)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)  # enough to tell it is too large, and no more
    except OSError as exc:
        raise CtkError(source, [f"cannot read the file: {exc.strerror}"]) from None
    try:
        check_size(raw, source, "experiment")
    except PlaybookError as error:
        raise CtkError(source, _located(error)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CtkError(source, [f"not UTF-8 text (bad byte at offset {exc.start})"]) from None
    return parse_experiment(text, source, yaml_ok=path.suffix.lower() != ".json")


def parse_experiment(
    text: str, source: str = "<experiment>", yaml_ok: bool = True
) -> dict[str, Any]:
    data = _decode(text, source, yaml_ok)
    problems = list(_problems(data))
    if problems:
        raise CtkError(source, problems)
    assert isinstance(data, dict)
    return data


def _decode(text: str, source: str, yaml_ok: bool) -> Any:
    try:
        check_size(text, source, "experiment")
    except PlaybookError as error:
        raise CtkError(source, _located(error)) from None
    too_deep = _json_too_deep(text)
    if too_deep is None:
        try:
            return json.loads(text)  # at most MAX_DEPTH levels: no RecursionError
        except json.JSONDecodeError as exc:
            if not yaml_ok:
                raise CtkError(
                    source, [f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
                ) from None
    elif not yaml_ok:
        pos = position_of_index(text, too_deep)
        raise CtkError(source, [f"line {pos.line}, column {pos.column}: {TOO_DEEP}"])
    # YAML, or text too deep to be JSON worth decoding (the loader refuses it, at a position,
    # if it is that deep as YAML too: the scan may have counted brackets in YAML comments).
    try:
        return load_yaml(text, source, document="experiment").data
    except PlaybookError as error:
        raise CtkError(source, _located(error)) from None


def _located(error: PlaybookError) -> list[str]:
    """The loader's issues as problems of an experiment, each with its line and column."""
    problems = []
    for issue in error.issues:
        hint = f" (hint: {issue.hint})" if issue.hint else ""
        problems.append(f"line {issue.line}, column {issue.column}: {issue.message}{hint}")
    return problems


# What gives JSON its depth: brackets, outside strings (a string is skipped whole, escapes
# included; an unterminated one runs to the end).
_JSON_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


def _json_too_deep(text: str) -> int | None:
    """Index of the first '[' or '{' nested deeper than MAX_DEPTH, read as JSON, if any.

    ``json.loads`` recurses once per level and ends in a RecursionError (a traceback, not a
    message) somewhere near a thousand; this scan is a loop, and it counts like the loader:
    the top-level collection is level 1, and level MAX_DEPTH + 1 is refused.
    """
    depth = 0
    for match in _JSON_STRUCTURE.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return match.start()
        elif token in ("]", "}"):
            depth -= 1
    return None


def _problems(data: Any) -> Iterator[str]:
    if not isinstance(data, dict):
        yield f"expected an object at the top level, found {_kind(data)}"
        return
    for key in ("title", "description"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            yield f"{key}: required, a non-empty string"
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        yield "tags: expected a list of strings"
    for key in ("configuration", "secrets"):
        if key in data and not isinstance(data[key], dict):
            yield f"{key}: expected an object, found {_kind(data[key])}"

    declared = _declared_names(data)
    hypothesis = data.get("steady-state-hypothesis")
    if hypothesis is not None:
        if not isinstance(hypothesis, dict):
            yield f"steady-state-hypothesis: expected an object, found {_kind(hypothesis)}"
        else:
            if not isinstance(hypothesis.get("title"), str):
                yield "steady-state-hypothesis.title: required, a string"
            probes = hypothesis.get("probes", [])
            if not isinstance(probes, list):
                yield "steady-state-hypothesis.probes: expected a list"
            else:
                for i, probe in enumerate(probes):
                    where = f"steady-state-hypothesis.probes[{i}]"
                    yield from _activity_problems(probe, where, declared)
                    if isinstance(probe, dict) and "ref" not in probe and "tolerance" not in probe:
                        yield f"{where}: a steady-state probe requires a tolerance"
                    if isinstance(probe, dict) and "tolerance" in probe:
                        yield from _tolerance_problems(probe["tolerance"], f"{where}.tolerance")

    method = data.get("method")
    if not isinstance(method, list) or not method:
        yield "method: required, a list with at least one activity"
    else:
        for i, activity in enumerate(method):
            yield from _activity_problems(activity, f"method[{i}]", declared)
    rollbacks = data.get("rollbacks", [])
    if not isinstance(rollbacks, list):
        yield "rollbacks: expected a list of actions"
    else:
        for i, activity in enumerate(rollbacks):
            yield from _activity_problems(activity, f"rollbacks[{i}]", declared)


def _declared_names(data: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    hypothesis = data.get("steady-state-hypothesis")
    probes = hypothesis.get("probes") if isinstance(hypothesis, dict) else None
    for section in (probes, data.get("method"), data.get("rollbacks")):
        for activity in section if isinstance(section, list) else []:
            if isinstance(activity, dict) and isinstance(activity.get("name"), str):
                names.add(activity["name"])
    return names


def _activity_problems(activity: Any, where: str, declared: set[str]) -> Iterator[str]:
    if not isinstance(activity, dict):
        yield f"{where}: expected an activity object, found {_kind(activity)}"
        return
    if "ref" in activity:
        ref = activity["ref"]
        if not isinstance(ref, str) or ref not in declared:
            yield f"{where}.ref: {ref!r} is not the name of a declared probe or action"
        return
    kind = activity.get("type")
    if kind not in ACTIVITY_TYPES:
        yield f"{where}.type: expected 'probe' or 'action', found {kind!r}"
    if not isinstance(activity.get("name"), str) or not activity["name"].strip():
        yield f"{where}.name: required, a non-empty string"
    provider = activity.get("provider")
    if not isinstance(provider, dict):
        yield f"{where}.provider: required, an object with a type"
    else:
        yield from _provider_problems(provider, f"{where}.provider")
    pauses = activity.get("pauses", {})
    if not isinstance(pauses, dict):
        yield f"{where}.pauses: expected an object with before/after"
    else:
        for key, value in pauses.items():
            if key not in ("before", "after"):
                yield f"{where}.pauses.{key}: unknown pause (before or after)"
            elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                yield f"{where}.pauses.{key}: expected a number of seconds, found {value!r}"
    if "background" in activity and not isinstance(activity["background"], bool):
        yield f"{where}.background: expected true or false"


def _provider_problems(provider: dict[str, Any], where: str) -> Iterator[str]:
    kind = provider.get("type")
    if kind not in PROVIDER_TYPES:
        yield f"{where}.type: expected one of python, http, process, found {kind!r}"
        return
    required = {"python": ("module", "func"), "http": ("url",), "process": ("path",)}[kind]
    for key in required:
        if not isinstance(provider.get(key), str) or not provider[key]:
            yield f"{where}.{key}: required for a {kind} provider, a string"
    arguments = provider.get("arguments")
    if kind == "process" and arguments is not None:
        if not isinstance(arguments, list | str | dict):
            yield f"{where}.arguments: expected a list or a string, found {_kind(arguments)}"
    elif kind in ("python", "http") and arguments is not None and not isinstance(arguments, dict):
        yield f"{where}.arguments: expected an object, found {_kind(arguments)}"
    timeout = provider.get("timeout")
    if timeout is not None and not _is_timeout(timeout):
        yield f"{where}.timeout: expected seconds or [connect, read] seconds, found {timeout!r}"


def _tolerance_problems(tolerance: Any, where: str) -> Iterator[str]:
    if isinstance(tolerance, dict) and tolerance.get("type") not in TOLERANCE_TYPES:
        yield f"{where}.type: expected one of {', '.join(TOLERANCE_TYPES)}"
    elif tolerance is None:
        yield f"{where}: a tolerance cannot be null"


def _is_timeout(value: Any) -> bool:
    def number(v: Any) -> bool:
        return not isinstance(v, bool) and isinstance(v, int | float) and v > 0

    if isinstance(value, list):
        return len(value) == 2 and all(number(v) for v in value)
    return number(value)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", type(None): "nothing"}
    return names.get(type(value), type(value).__name__)
