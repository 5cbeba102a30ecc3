"""A strict YAML loader that remembers where every value came from.

Playbooks are plain data: no anchors or aliases (they make "billion laughs" cheap and reviews
hard), no explicit tags, no duplicate keys, bounded size and depth. The loader reads the YAML
event stream (libyaml when present: a 256 KiB playbook must validate in well under 50 ms) and
builds plain data itself, so every path in the result has a line and column for error messages.
Positions are kept as the parser's raw marks and turned into line/column only when asked for.

The Chaos Toolkit importer reads YAML experiments through the same loader (``document`` names
what is read, for the messages): an experiment is untrusted input too.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from dataclasses import dataclass
from os import PathLike
from typing import Any, Protocol

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import ScalarNode

from drills.playbook.errors import Issue, PlaybookError

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
TOO_DEEP = f"nesting deeper than {MAX_DEPTH} levels"

Path = tuple[str | int, ...]

# The C parser when PyYAML was built with libyaml (about 20x faster), else the Python one;
# both are safe loaders: only the event stream is used, nothing is constructed from tags.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_NULL, _BOOL, _INT, _FLOAT = (
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
)
_CONSTRUCTED_TAGS = {_NULL, _BOOL, _INT, _FLOAT}


@dataclass(frozen=True)
class Position:
    """1-based line and column."""

    line: int
    column: int


class _Mark(Protocol):
    # yaml.Mark, from either the pure-Python or the libyaml side; 0-based.
    line: int
    column: int


def _position(mark: _Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


@dataclass(frozen=True)
class Marks:
    """Where a value sits: its key (the value itself for list items) and the value."""

    key: Position
    value: Position
    value_end: Position
    style: str | None  # None (plain), "'" or '"' (quoted), "|" or ">" (block); None for collections


# key mark, value start mark, value end mark, style: raw, turned into positions on demand.
# (Marks, not events: events are garbage-collected objects, and keeping 30,000 of them alive
# makes every collection during a load slower.)
_RawMarks = tuple[Any, Any, Any, str | None]


class MarkTable:
    """Path -> Marks, built lazily from the parser's marks (most are never looked at)."""

    def __init__(self) -> None:
        self.raw: dict[Path, _RawMarks] = {}

    def add(self, path: Path, raw: _RawMarks) -> None:
        self.raw[path] = raw

    def get(self, path: Path) -> Marks | None:
        raw = self.raw.get(path)
        if raw is None:
            return None
        key, start, end, style = raw
        return Marks(_position(key), _position(start), _position(end), style)

    def __getitem__(self, path: Path) -> Marks:
        marks = self.get(path)
        if marks is None:
            raise KeyError(path)
        return marks

    def __contains__(self, path: object) -> bool:
        return path in self.raw

    def __iter__(self) -> Iterator[Path]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


@dataclass(frozen=True)
class LoadedYaml:
    data: Any
    marks: MarkTable

    def position(self, path: Path, *, of_key: bool = False) -> Position:
        """Position of ``path`` or, when it does not exist, of its nearest ancestor."""
        while path not in self.marks and path:
            path = path[:-1]
        marks = self.marks.get(path)
        if marks is None:
            return Position(1, 1)
        return marks.key if of_key else marks.value


class _Rejected(Exception):
    def __init__(self, message: str, mark: _Mark | None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.hint = hint


def position_of_index(text: str, index: int) -> Position:
    before = text[:index]
    line = before.count("\n") + 1
    return Position(line, index - (before.rfind("\n") + 1) + 1)


def read_text(path: str | PathLike[str]) -> str:
    """A document file's text (UTF-8); raises PlaybookError naming the first bad byte, or
    OSError when the file cannot be read."""
    raw = pathlib.Path(path).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PlaybookError(
            [Issue(str(path), 1, 1, f"not UTF-8 text (bad byte at offset {error.start})")]
        ) from None


def check_size(content: str | bytes, filename: str, document: str = "playbook") -> None:
    """Refuse content over MAX_BYTES of UTF-8, before anything parses it (PlaybookError)."""
    if len(content) > MAX_BYTES or (
        isinstance(content, str) and len(content.encode("utf-8", "surrogatepass")) > MAX_BYTES
    ):
        raise PlaybookError(
            [Issue(filename, 1, 1, f"{document} is larger than {MAX_BYTES // 1024} KiB")]
        )


def load_yaml(text: str, filename: str = "<playbook>", *, document: str = "playbook") -> LoadedYaml:
    """Parse ``text`` into plain data and marks; raises PlaybookError with every problem.

    ``document`` is what the text is ("playbook", "experiment"), for the messages.
    """
    check_size(text, filename, document)
    builder: _Builder | None = None
    try:
        builder = _Builder(text, filename, document)
        data = builder.document()
    except _Rejected as rejected:
        pos = _position(rejected.mark) if rejected.mark else Position(1, 1)
        raise PlaybookError(
            [Issue(filename, pos.line, pos.column, rejected.message, rejected.hint)]
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        pos = _position(mark) if mark else Position(1, 1)
        problem = ", ".join(part for part in (error.context, error.problem) if part) or "invalid"
        raise PlaybookError(
            [Issue(filename, pos.line, pos.column, f"YAML syntax error: {problem}")]
        ) from None
    except yaml.reader.ReaderError as error:
        pos = position_of_index(text, error.position)
        raise PlaybookError(
            [
                Issue(
                    filename,
                    pos.line,
                    pos.column,
                    f"YAML syntax error: unacceptable character #x{error.character:04x}",
                )
            ]
        ) from None
    except (yaml.YAMLError, UnicodeError) as error:
        raise PlaybookError([Issue(filename, 1, 1, f"YAML syntax error: {error}")]) from None
    finally:
        if builder is not None:
            builder.loader.dispose()
    if builder.issues:
        raise PlaybookError(builder.issues)
    return LoadedYaml(data, builder.marks)


class _Builder:
    """Plain data from the event stream, refusing what playbooks and experiments may not hold."""

    def __init__(self, text: str, filename: str, noun: str) -> None:
        self.loader = _SafeLoader(text)
        self.filename = filename
        self.noun = noun  # "playbook", "experiment": what the messages call the document
        self.marks = MarkTable()
        self.issues: list[Issue] = []
        self.closed: Any = None  # end mark of the collection built last
        # Implicit resolvers are keyed by first character; others can only be strings.
        self.resolvable = set(self.loader.yaml_implicit_resolvers)
        self.resolved: dict[str, Any] = {}  # plain scalars repeat a lot ("10s", "true")

    def next(self) -> Event:
        event: Event = self.loader.get_event()
        return event

    def issue(self, mark: Any, message: str, hint: str | None = None) -> None:
        pos = _position(mark)
        self.issues.append(Issue(self.filename, pos.line, pos.column, message, hint))

    def document(self) -> Any:
        event = self.next()
        if not isinstance(event, StreamStartEvent):  # pragma: no cover - parser guarantees it
            raise _Rejected("not a YAML stream", event.start_mark)
        event = self.next()
        if isinstance(event, StreamEndEvent):
            return None
        if not isinstance(event, DocumentStartEvent):  # pragma: no cover
            raise _Rejected("not a YAML document", event.start_mark)
        first = self.next()
        self.marks.add((), (first.start_mark, first.start_mark, first.end_mark, None))
        data = self.value(first, (), 0)
        if isinstance(first, MappingStartEvent | SequenceStartEvent):
            self.marks.add((), (first.start_mark, first.start_mark, self.closed, None))
        if not isinstance(self.next(), DocumentEndEvent):  # pragma: no cover
            raise _Rejected("expected the end of the document", None)
        event = self.next()
        if not isinstance(event, StreamEndEvent):
            raise _Rejected(
                "expected a single document in the stream, but found another document",
                event.start_mark,
                f"one {self.noun} per file; remove the '---' line",
            )
        return data

    def check(self, event: Event) -> None:
        if isinstance(event, AliasEvent):
            raise _Rejected(
                f"aliases (*{event.anchor}) are not allowed in {self.noun}s",
                event.start_mark,
                "write the value out in full",
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _Rejected(
                f"anchors (&{anchor}) are not allowed in {self.noun}s",
                event.start_mark,
                "write the value out in full",
            )
        tag = getattr(event, "tag", None)
        if tag is not None:
            tag = tag.replace("tag:yaml.org,2002:", "!!")
            raise _Rejected(
                f"explicit tags ({tag}) are not allowed in {self.noun}s",
                event.start_mark,
                "remove the tag; quote the value if it must stay a string",
            )

    def value(self, event: Event, path: Path, depth: int) -> Any:
        if type(event) is ScalarEvent:
            self.check(event)
            return self.scalar(event)
        self.check(event)
        if depth >= MAX_DEPTH:
            raise _Rejected(TOO_DEEP, event.start_mark)
        if isinstance(event, SequenceStartEvent):
            return self.sequence(path, depth + 1)
        if isinstance(event, MappingStartEvent):
            return self.mapping(path, depth + 1)
        raise _Rejected("unsupported YAML node", event.start_mark)  # pragma: no cover

    def scalar(self, event: ScalarEvent) -> Any:
        value = event.value
        if not event.implicit[0] or not value or value[0] not in self.resolvable:
            return value  # quoted or block scalars, and plain ones that can only be strings
        if value in self.resolved:
            return self.resolved[value]
        tag = self.loader.resolve(ScalarNode, value, (True, False))
        result: Any = value  # timestamps, for one, would otherwise become datetime objects
        if tag == _INT:
            try:
                result = self.loader.construct_yaml_int(ScalarNode(tag, value))
            except ValueError:
                # int() refuses thousands of digits; no number in a playbook is that long.
                self.issue(
                    event.start_mark,
                    f"a number {len(value)} characters long is too long for a {self.noun}",
                )
                return value
        elif tag == _FLOAT:
            result = self.loader.construct_yaml_float(ScalarNode(tag, value))
        elif tag == _BOOL:
            result = self.loader.construct_yaml_bool(ScalarNode(tag, value))
        elif tag == _NULL:
            result = None
        self.resolved[value] = result
        return result

    # The two loops below run once per value of a 256 KiB file: kept flat on purpose.
    def sequence(self, path: Path, depth: int) -> list[Any]:
        items: list[Any] = []
        raw = self.marks.raw
        get_event = self.loader.get_event
        while True:
            event = get_event()
            kind = type(event)
            if kind is SequenceEndEvent:
                self.closed = event.end_mark
                return items
            here = (*path, len(items))
            start = event.start_mark
            if kind is ScalarEvent and event.anchor is None and event.tag is None:
                raw[here] = (start, start, event.end_mark, event.style or None)
                items.append(self.scalar(event))
                continue
            raw[here] = (start, start, event.end_mark, None)
            items.append(self.value(event, here, depth))
            # A collection's end mark is known only once it is closed.
            raw[here] = (start, start, self.closed, None)

    def mapping(self, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Any] = {}  # key -> its mark
        raw = self.marks.raw
        get_event = self.loader.get_event
        while True:
            key_event = get_event()
            if type(key_event) is MappingEndEvent:
                self.closed = key_event.end_mark
                return result
            if type(key_event) is not ScalarEvent or key_event.anchor or key_event.tag:
                self.check(key_event)
            value_event = get_event()
            if type(key_event) is not ScalarEvent:
                self.issue(key_event.start_mark, "keys must be plain names, not lists or mappings")
                self.skip(key_event, depth)
                self.check(value_event)
                self.skip(value_event, depth)
                continue
            # Keys stay the text as written: "on" or "1" are names here, not a bool or an int.
            key = key_event.value
            if key in first_seen:
                self.issue(
                    key_event.start_mark,
                    f"duplicate key '{key}' (first at line {first_seen[key].line + 1})",
                    "each key may appear once in a mapping",
                )
                self.check(value_event)
                self.skip(value_event, depth)
                continue
            key_mark: Any = key_event.start_mark
            first_seen[key] = key_mark
            here = (*path, key)
            start: Any = value_event.start_mark
            if (
                type(value_event) is ScalarEvent
                and value_event.anchor is None
                and value_event.tag is None
            ):
                raw[here] = (key_mark, start, value_event.end_mark, value_event.style or None)
                result[key] = self.scalar(value_event)
                continue
            raw[here] = (key_mark, start, value_event.end_mark, None)
            result[key] = self.value(value_event, here, depth)
            raw[here] = (key_mark, start, self.closed, None)

    def skip(self, event: Event, depth: int) -> None:
        """Consume the rest of a collection whose content is not kept (still checked)."""
        if isinstance(event, MappingStartEvent | SequenceStartEvent):
            self.value(event, ("<skipped>",), depth)
