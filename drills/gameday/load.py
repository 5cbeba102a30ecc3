"""Text in, GameDay out: or a PlaybookError listing every problem with its line and column,
read by the same strict loader as playbooks (no aliases or tags, bounded size and depth)."""

from __future__ import annotations

from pathlib import Path as FilePath

from pydantic import ValidationError

from drills.gameday.document import GameDay
from drills.playbook.errors import Issue, PlaybookError
from drills.playbook.loader import load_yaml, read_text
from drills.playbook.model_errors import issue_from_pydantic, kind_of

DOCUMENT = "game day"


def parse_gameday(text: str, filename: str = "<game day>") -> GameDay:
    loaded = load_yaml(text, filename)
    data = loaded.data
    if not isinstance(data, dict):
        pos = loaded.position(())
        found = "nothing" if data is None else kind_of(data)
        raise PlaybookError([Issue(
            filename, pos.line, pos.column,
            f"expected a mapping at the top level (apiVersion, kind, metadata, ...), found {found}",
        )])  # fmt: skip
    try:
        return GameDay.model_validate(data, by_name=False)
    except ValidationError as error:
        issues = [
            issue_from_pydantic(detail, loaded, filename, GameDay, DOCUMENT)
            for detail in error.errors()
        ]
    unique = {(i.line, i.column, i.message, i.hint): i for i in issues}
    raise PlaybookError(sorted(unique.values(), key=lambda i: (i.line, i.column, i.message)))


def parse_gameday_file(path: str | FilePath) -> GameDay:
    return parse_gameday(read_text(path), str(path))
