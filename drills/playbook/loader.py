"""A strict YAML loader that remembers where every value came from.

Playbooks are plain data: no anchors or aliases (they make "billion laughs" cheap and reviews
hard), no explicit tags, no duplicate keys, bounded size and depth. The loader composes YAML
nodes (each carries a mark) and builds plain data itself, so every path in the result has a
line and column for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from drills.playbook.errors import Issue, PlaybookError

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32

Path = tuple[str | int, ...]

# Scalars of these resolved types become Python values; everything else stays a string
# (timestamps, for one, would otherwise turn into datetime objects).
_CONSTRUCTED_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
}


@dataclass(frozen=True)
class Position:
    """1-based line and column."""

    line: int
    column: int


@dataclass(frozen=True)
class Marks:
    """Where a value sits: its key (the value itself for list items) and the value."""

    key: Position
    value: Position
    value_end: Position
    style: str | None  # None (plain), "'" or '"' (quoted), "|" or ">" (block); None for collections


@dataclass(frozen=True)
class LoadedYaml:
    data: Any
    marks: dict[Path, Marks]

    def position(self, path: Path, *, of_key: bool = False) -> Position:
        """Position of ``path`` or, when it does not exist, of its nearest ancestor."""
        while path not in self.marks and path:
            path = path[:-1]
        marks = self.marks.get(path)
        if marks is None:
            return Position(1, 1)
        return marks.key if of_key else marks.value


class _Mark(Protocol):
    # yaml.Mark, from either the pure-Python or the libyaml side; 0-based.
    line: int
    column: int


class _Rejected(Exception):
    def __init__(self, message: str, mark: _Mark | None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.hint = hint


class _StrictLoader(yaml.SafeLoader):
    """Refuses aliases, anchors, tags and deep nesting while composing, before any expansion."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise _Rejected(
                f"aliases (*{event.anchor}) are not allowed in playbooks",
                event.start_mark,
                "write the value out in full",
            )
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise _Rejected(
                f"anchors (&{event.anchor}) are not allowed in playbooks",
                event.start_mark,
                "write the value out in full",
            )
        tag = getattr(event, "tag", None)
        if tag is not None:
            tag = tag.replace("tag:yaml.org,2002:", "!!")
            raise _Rejected(
                f"explicit tags ({tag}) are not allowed in playbooks",
                event.start_mark,
                "remove the tag; quote the value if it must stay a string",
            )
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Rejected(f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _position(mark: _Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


def _position_of_index(text: str, index: int) -> Position:
    before = text[:index]
    line = before.count("\n") + 1
    return Position(line, index - (before.rfind("\n") + 1) + 1)


def load_yaml(text: str, filename: str = "<playbook>") -> LoadedYaml:
    """Parse ``text`` into plain data and marks; raises PlaybookError with every problem."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise PlaybookError(
            [Issue(filename, 1, 1, f"playbook is larger than {MAX_BYTES // 1024} KiB")]
        )
    loader: _StrictLoader | None = None
    try:
        # The reader checks for unprintable characters already in the constructor.
        loader = _StrictLoader(text)
        root = loader.get_single_node()
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
        pos = _position_of_index(text, error.position)
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
    except yaml.YAMLError as error:
        raise PlaybookError([Issue(filename, 1, 1, f"YAML syntax error: {error}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        return LoadedYaml(None, {})
    builder = _Builder(loader, filename)
    start = _position(root.start_mark)
    builder.marks[()] = Marks(start, start, _position(root.end_mark), None)
    data = builder.build(root, ())
    if builder.issues:
        raise PlaybookError(builder.issues)
    return LoadedYaml(data, builder.marks)


class _Builder:
    def __init__(self, loader: _StrictLoader, filename: str) -> None:
        self.loader = loader
        self.filename = filename
        self.marks: dict[Path, Marks] = {}
        self.issues: list[Issue] = []

    def issue(self, mark: _Mark, message: str, hint: str | None = None) -> None:
        pos = _position(mark)
        self.issues.append(Issue(self.filename, pos.line, pos.column, message, hint))

    def build(self, node: Node, path: Path) -> Any:
        if isinstance(node, ScalarNode):
            if node.tag in _CONSTRUCTED_TAGS:
                return self.loader.construct_object(node, deep=True)
            return node.value
        if isinstance(node, SequenceNode):
            items = []
            for index, child in enumerate(node.value):
                here = _position(child.start_mark)
                self.marks[(*path, index)] = Marks(
                    here, here, _position(child.end_mark), _style(child)
                )
                items.append(self.build(child, (*path, index)))
            return items
        if isinstance(node, MappingNode):
            return self.build_mapping(node, path)
        raise _Rejected("unsupported YAML node", node.start_mark)  # pragma: no cover

    def build_mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.issue(key_node.start_mark, "keys must be plain names, not lists or mappings")
                continue
            # Keys stay the text as written: "on" or "1" are names here, not a bool or an int.
            key = key_node.value
            if key in first_seen:
                self.issue(
                    key_node.start_mark,
                    f"duplicate key '{key}' (first at line {first_seen[key]})",
                    "each key may appear once in a mapping",
                )
                continue
            first_seen[key] = key_node.start_mark.line + 1
            self.marks[(*path, key)] = Marks(
                _position(key_node.start_mark),
                _position(value_node.start_mark),
                _position(value_node.end_mark),
                _style(value_node),
            )
            result[key] = self.build(value_node, (*path, key))
        return result


def _style(node: Node) -> str | None:
    return node.style if isinstance(node, ScalarNode) else None
