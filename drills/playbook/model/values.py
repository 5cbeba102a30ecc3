"""Typed values written in playbooks: names, durations, percentages, ports, addresses, paths, sizes.

URLs and other endpoints written as text are in ``endpoints``.

Each is an ``Annotated`` type with its own error (and a hint where one helps), a serializer that
writes it back as a playbook would ("10s", "5%", "512MiB") and a JSON Schema for editors.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from posixpath import normpath
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from drills.playbook.durations import (
    DURATION_HELP,
    MAX_SECONDS,
    format_duration,
    parse_duration,
    parse_percent,
)
from drills.playbook.text import hidden_character, printable
from injector.protocol import HOST_NAME

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
DURATION_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m|h)\s*$"
PERCENT_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s*%\s*$"
SIZE_PATTERN = r"^\s*[0-9]+\s*(B|KB|MB|GB|KiB|MiB|GiB)\s*$"

_SIZE_UNITS = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}
_SIZE = re.compile(r"\s*([0-9]+)\s*(B|KB|MB|GB|KiB|MiB|GiB)\s*")


def strict_config() -> ConfigDict:
    """Every playbook model: unknown keys are errors, YAML keys in and out, immutable."""
    return ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


def did_you_mean(word: str, choices: Sequence[str], cutoff: float = 0.5) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f"did you mean '{close[0]}'?" if close else None


# -- durations --
CEILING_HINT = f"no duration in a playbook may be longer than {format_duration(MAX_SECONDS)}"
# A long drill repeats the same few durations thousands of times.
_cached_duration = lru_cache(maxsize=256)(parse_duration)


def to_seconds(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return value  # let the float validator report the type
    if not isinstance(value, str):
        finite = not isinstance(value, float) or math.isfinite(value)
        raise PydanticCustomError(
            "duration_unit",
            DURATION_HELP + "; a bare number has no unit",
            {"hint": f"write '{value}s' for {value} seconds" if finite else None},
        )
    try:
        seconds = _cached_duration(value)
    except ValueError:
        raise PydanticCustomError(
            "duration", DURATION_HELP + ", got '{text}'", {"text": value}
        ) from None
    if not seconds <= MAX_SECONDS:  # "not <=": inf, from a few hundred digits, is refused too
        raise PydanticCustomError(
            "duration_too_long",
            "must be at most {most}, found '{text}'",
            {
                "most": format_duration(MAX_SECONDS),
                "text": _abridged(value.strip()),
                "hint": CEILING_HINT,
            },
        )
    return seconds


def _abridged(text: str, keep: int = 24) -> str:
    """``text`` as written, its middle left out when it is too long to read in a message."""
    return text if len(text) <= keep else f"{text[: keep - 6]}...{text[-3:]}"


Seconds = Annotated[
    float,
    BeforeValidator(to_seconds),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": DURATION_PATTERN, "examples": ["150ms", "2s", "10m"]}
    ),
]
PositiveSeconds = Annotated[Seconds, Field(gt=0)]


# -- percentages --
def _percent(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "percent_unit",
            "expected a percentage like 5%; a bare number has no unit",
            {"hint": f"write '{value}%'"},
        )
    try:
        return parse_percent(value)
    except ValueError:
        raise PydanticCustomError(
            "percent", "expected a percentage like 5% or 40%, got '{text}'", {"text": value}
        ) from None


def format_percent(value: float) -> str:
    return f"{int(value)}%" if value == int(value) else f"{value!r}%"


Percent = Annotated[
    float,
    BeforeValidator(_percent),
    PlainSerializer(format_percent, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PERCENT_PATTERN, "examples": ["5%", "40%"]}),
    Field(gt=0, le=100),
]


# -- sizes --
def parse_size(text: str) -> int:
    """Bytes in "512MiB", "1GiB", "100MB"; raises ValueError otherwise."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"expected a size like 512MiB, 1GiB or 100MB, got {text!r}")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def format_size(size: int) -> str:
    for unit in ("GiB", "MiB", "KiB"):
        if size >= _SIZE_UNITS[unit] and size % _SIZE_UNITS[unit] == 0:
            return f"{size // _SIZE_UNITS[unit]}{unit}"
    return f"{size}B"


def _size(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "size_unit",
            "expected a size like 512MiB, 1GiB or 100MB; a bare number has no unit",
            {"hint": f"write '{value}B' for bytes or add MiB/GiB"},
        )
    try:
        return parse_size(value)
    except ValueError:
        raise PydanticCustomError(
            "size", "expected a size like 512MiB, 1GiB or 100MB, got '{text}'", {"text": value}
        ) from None


Size = Annotated[
    int,
    BeforeValidator(_size),
    PlainSerializer(format_size, return_type=str),
    WithJsonSchema({"type": "string", "pattern": SIZE_PATTERN, "examples": ["512MiB", "1GiB"]}),
    Field(gt=0),
]


# -- words: names people read, descriptions, messages --
LINE_MAX = 200  # a step's or an SLA's name, an owner, a tag
TEXT_MAX = 10_000  # a description, a pause message, a PromQL query


def _words(value: str, *, lines: bool, most: int) -> str:
    hidden = hidden_character(value, lines=lines)
    if hidden is not None:
        char = hidden.group()
        if char < "\u200b":
            what, why = "a control character", "it would act on the terminals and logs that show it"
        else:
            what, why = "an invisible or reordering character", "it hides what people read"
        raise PydanticCustomError(
            "hidden_character",
            "{what} ({char}) may not be in a playbook's text: {why}",
            {"what": what, "char": printable(char), "why": why, "offset": hidden.start()},
        )
    if len(value) > most:
        raise PydanticCustomError(
            "text_too_long",
            "at most {most} characters, found {length}",
            {"most": most, "length": len(value)},
        )
    return value


def _line(value: str) -> str:
    return _words(value, lines=False, most=LINE_MAX)


def _text(value: str) -> str:
    return _words(value, lines=True, most=TEXT_MAX)


# One line of words (names of steps and SLAs, owners, tags) and text that may run over lines
# (descriptions, messages): anything printable, as they are only ever shown.
Line = Annotated[str, AfterValidator(_line), Field(json_schema_extra={"maxLength": LINE_MAX})]
Text = Annotated[str, AfterValidator(_text), Field(json_schema_extra={"maxLength": TEXT_MAX})]


# -- names, ports, addresses, paths --
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

# Names a playbook gives or looks up: a target (its own), an inventory host (as agents register
# them), a service on a host, a label. Letters, digits and a few marks, never starting with one
# of them: none can be read as an option, a path, a URL or more than one word.
WORD_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.,:/@+-]{0,62}$"
_NAMES = {
    # kind: (pattern, what it is, what it may hold)
    "target": (WORD_PATTERN, "a valid target name", "letters, digits, '_' and '-'"),
    "host": (HOST_NAME.pattern, "a host name", "letters, digits, '.', '_' and '-'"),
    "service": (WORD_PATTERN, "a service name", "letters, digits, '_' and '-'"),
    "label": (LABEL_PATTERN, "a label", "letters, digits and _ . , : / @ + -"),
}


def _named(kind: str) -> Any:
    """The after-validator of a name of ``kind``."""
    pattern, what, alphabet = _NAMES[kind]
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise PydanticCustomError(
                f"{kind}_name",
                "'{text}' is not {what}: use {alphabet} (up to 63, starting with a letter or "
                "digit)",
                {"text": _abridged(value, keep=40), "what": what, "alphabet": alphabet},
            )
        return value

    return AfterValidator(check)


def _pattern(kind: str) -> Any:
    return Field(json_schema_extra={"pattern": _NAMES[kind][0]})


TargetName = Annotated[str, _named("target"), _pattern("target")]
HostName = Annotated[str, _named("host"), _pattern("host")]
ServiceName = Annotated[str, _named("service"), _pattern("service")]
LabelWord = Annotated[str, _named("label"), _pattern("label")]

Port = Annotated[int, Field(ge=1, le=65535)]


def _address(value: str) -> str:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise PydanticCustomError(
            "ip_address",
            "expected an IP address like 10.77.0.3 or fd00::3, got '{text}'",
            {"text": value},
        ) from None
    # ipaddress takes any text after "%" as an IPv6 scope and keeps it in str(): an address
    # that reaches a firewall rule must be the address alone. (The agent refuses it too.)
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        raise PydanticCustomError(
            "ip_address_scope",
            "an address with a scope (the part after %) names an interface, not a peer, "
            "got '{text}'",
            {"text": _abridged(value.strip(), keep=40), "hint": "write the address alone"},
        )
    return str(address)


Address = Annotated[
    str,
    AfterValidator(_address),
    WithJsonSchema({"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}),
]


# The kernel's own file systems: a fault's path there would mount over, or read, the kernel's
# view of every process (the agent's own included), never an application's data.
KERNEL_FILESYSTEMS = ("/proc", "/sys", "/dev")
PATH_MAX = 1024
NAME_MAX = 255  # bytes of one file name, as Linux file systems take them


def _absolute_path(value: str) -> str:
    text = _abridged(value, keep=60)
    if not value.startswith("/") or hidden_character(value) is not None:
        raise PydanticCustomError(
            "absolute_path",
            "expected an absolute path like /var/lib/redis, got '{text}'",
            {"text": text},
        )
    if value.startswith("//") or len(value) > PATH_MAX:
        # POSIX leaves a leading "//" to the system to interpret; the agent refuses it.
        raise PydanticCustomError(
            "absolute_path",
            "expected a path starting with one '/' and at most {most} characters, got '{text}'",
            {"text": text, "most": PATH_MAX},
        )
    if ".." in value.split("/"):
        raise PydanticCustomError(
            "absolute_path", "'..' is not allowed in a path, got '{text}'", {"text": text}
        )
    if any(len(part.encode()) > NAME_MAX for part in value.split("/")):
        raise PydanticCustomError(
            "absolute_path",
            "a name in a path is at most {most} bytes, got '{text}'",
            {"most": NAME_MAX, "text": text},
        )
    path = normpath(value)
    if path == "/":
        raise PydanticCustomError(
            "absolute_path",
            "a fault on the whole file system (/) is refused; name a directory",
            {"hint": "for example /var/lib/redis"},
        )
    if any(path == top or path.startswith(top + "/") for top in KERNEL_FILESYSTEMS):
        raise PydanticCustomError(
            "absolute_path",
            "'{text}' is in one of the kernel's file systems ({kernel}), not an application's",
            {"text": text, "kernel": ", ".join(KERNEL_FILESYSTEMS)},
        )
    return value


AbsolutePath = Annotated[
    str, AfterValidator(_absolute_path), Field(json_schema_extra={"pattern": "^/"})
]


def _status_code(value: int) -> int:
    if not 100 <= value <= 599:
        raise PydanticCustomError(
            "status", "HTTP status codes are 100..599, got {code}", {"code": value}
        )
    return value


StatusCode = Annotated[int, AfterValidator(_status_code)]


def _one_or_many(value: Any) -> Any:
    # `to: replica` reads as naturally as `to: [replica]`.
    return [value] if isinstance(value, str) else value


TargetNames = Annotated[
    list[str],
    BeforeValidator(_one_or_many),
    Field(min_length=1),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ]
        }
    ),
]
