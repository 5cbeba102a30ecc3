"""Pydantic's validation errors as Issues: at the line and column of the YAML they are about,
in words ("checkout.timeout: must be at most 10m, found '1h'"), with a hint where one helps.

A document type (the playbook, the game day) is a pydantic model; its errors come as a
location through the model (union tags included) and a type. This follows the location through
the model types to a path in the YAML data, whose marks the loader kept.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, Discriminator, Tag

from drills.playbook.durations import format_duration, parse_duration
from drills.playbook.errors import Issue
from drills.playbook.loader import LoadedYaml, Path, Position


def issue_from_pydantic(
    detail: Any, loaded: LoadedYaml, filename: str, root: type[BaseModel], document: str
) -> Issue:
    """One error of ``root.model_validate`` as an Issue; ``document`` names the whole in
    messages about it ("playbook", "game day")."""
    raw_loc = tuple(detail["loc"])
    path, model = _walk(raw_loc, root)
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    hint = ctx.get("hint")
    if kind == "extra_forbidden":
        key = str(path[-1])
        _, parent = _walk(raw_loc[:-1], root)
        allowed = _keys_of(parent)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean '{close[0]}'?"
        elif allowed:
            hint = f"allowed keys: {', '.join(allowed)}"
        pos = loaded.position(path, of_key=True)
        return Issue(filename, pos.line, pos.column, f"unknown key '{key}'", hint)
    if raw_loc[-1:] == ("[key]",):
        # A map's key was refused (a target's name): point at the key, name the map.
        key_path = path[:-1]
        pos = loaded.position(key_path, of_key=True)
        return Issue(
            filename, pos.line, pos.column, f"{_label(key_path[:-1], document)}: {detail['msg']}"
        )
    if kind == "missing":
        pos = loaded.position(path[:-1], of_key=True)
        where = f" in {_label(path[:-1], document)}" if path[:-1] else ""
        return Issue(filename, pos.line, pos.column, f"missing key '{path[-1]}'{where}", hint)
    if "offset" in ctx:
        # The problem is one part of a string (a word of an assertion, the port of a URL).
        pos = value_position(loaded, path, int(ctx["offset"]))
        return Issue(
            filename, pos.line, pos.column, f"{_label(path, document)}: {detail['msg']}", hint
        )
    if "at_key" in ctx:
        # The problem is a key (a collector's name, say): point at the key itself.
        pos = loaded.position((*path, ctx["at_key"]), of_key=True)
        return Issue(
            filename, pos.line, pos.column, f"{_label(path, document)}: {detail['msg']}", hint
        )
    if "at" in ctx:
        path = (*path, ctx["at"])
    pos = loaded.position(path)
    message = _message(kind, detail, ctx, value_at(loaded.data, path))
    if kind in _STANDALONE:
        return Issue(filename, pos.line, pos.column, message, hint)
    return Issue(filename, pos.line, pos.column, f"{_label(path, document)}: {message}", hint)


# Errors about what a whole entry is: its own message is clearer without the path in front.
_STANDALONE = {"step_kind", "parallel_child", "repeat_child", "probe_kind", "target_kind"}


def _message(kind: str, detail: Any, ctx: dict[str, Any], value: Any) -> str:
    if kind in ("model_type", "dict_type"):
        return f"expected a mapping, found {kind_of(value)}"
    if kind == "list_type":
        return f"expected a list, found {kind_of(value)}"
    if kind == "string_type":
        return f"expected a string, found {kind_of(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, found {kind_of(value)}"
    if kind in ("literal_error", "enum") and "expected" in ctx:
        return f"expected {ctx['expected']}, found {kind_of(value)}"
    if kind == "too_short" and "min_length" in ctx:
        return f"needs at least {ctx['min_length']} entry"
    if kind in _BOUNDS and "expected" not in ctx:
        bound = ctx.get("ge", ctx.get("gt", ctx.get("le", ctx.get("lt"))))
        if isinstance(bound, int | float):
            return f"must be {_BOUNDS[kind]} {_spell(bound, value)}, found {kind_of(value)}"
    return str(detail["msg"])


def _walk(loc: tuple[Any, ...], root: type[BaseModel]) -> tuple[Path, Any]:
    """Follow a pydantic location through the model types.

    Returns the location as a path into the YAML data (union tags dropped: they are not in the
    data) and the type found at its end (a model class where there is one).
    """
    current: Any = root
    path: list[str | int] = []
    for part in loc:
        members = _tagged_members(current)
        if members is not None and isinstance(part, str) and part in members:
            current = members[part]
            continue
        path.append(part)
        current = _child(current, part)
    return tuple(path), current


def _child(annotation: Any, part: Any) -> Any:
    current = _unwrap(annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        fields = {(info.alias or name): info for name, info in current.model_fields.items()}
        return fields[part].annotation if part in fields else None
    origin = typing.get_origin(current)
    if origin is list and isinstance(part, int):
        return typing.get_args(current)[0]
    if origin is dict:
        return typing.get_args(current)[1]
    return None


def _tagged_members(annotation: Any) -> dict[str, Any] | None:
    """Tag -> member type, when ``annotation`` is a union with a Discriminator."""
    if typing.get_origin(annotation) is not typing.Annotated:
        annotation = _unwrap(annotation)
    while typing.get_origin(annotation) is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        if any(isinstance(meta, Discriminator) for meta in metadata):
            members: dict[str, Any] = {}
            for member in typing.get_args(_unwrap(inner)):
                for meta in _metadata(member):
                    if isinstance(meta, Tag):
                        members[meta.tag] = member
            return members
        annotation = inner
    return None


def _metadata(annotation: Any) -> list[Any]:
    found: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        found.extend(metadata)
        annotation = inner
    return found


def _keys_of(annotation: Any) -> list[str]:
    """The keys the model at a location accepts, as written in YAML."""
    current = _unwrap(annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [(info.alias or name) for name, info in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and "| None" until a model, list, dict or real union is left."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def value_position(loaded: LoadedYaml, path: Path, offset: int) -> Position:
    """Position of character ``offset`` inside the string value at ``path``."""
    marks = loaded.marks.get(path)
    if marks is None:
        return loaded.position(path)
    start, end = marks.value, marks.value_end
    # Only a single-line plain or quoted scalar maps offsets to columns one to one.
    if start.line == end.line and marks.style in (None, "'", '"'):
        quote = 0 if marks.style is None else 1
        return Position(start.line, start.column + quote + offset)
    return start


_BOUNDS = {
    "greater_than_equal": "at least",
    "greater_than": "more than",
    "less_than_equal": "at most",
    "less_than": "less than",
}


def _spell(bound: float, value: Any) -> str:
    """A bound written like the value it limits (2s, 40%, 3)."""
    if _is_duration(value):
        return format_duration(float(bound))
    if isinstance(value, str) and value.strip().endswith("%"):
        return f"{bound:g}%"
    return f"{bound:g}"


def value_at(data: Any, path: Path) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def _is_duration(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_duration(value)
    except ValueError:
        return False
    return True


def _label(path: Path, document: str) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or document


def kind_of(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return f"a number ({value})"
    return f"'{value}'" if isinstance(value, str) else type(value).__name__
