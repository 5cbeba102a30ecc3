"""Characters a playbook's words may not hold, and how text is shown when it holds them.

A playbook's names, descriptions and messages reach terminals (`drillhall run` prints step
names), logs, pages and reports. Control characters there can clear a screen, retitle a
terminal or, with a carriage return, overwrite a line with a verdict that never happened;
Unicode's direction overrides and invisible characters make text read differently from what
it is. So words may hold none of them (a newline and a tab only where text runs over lines),
and an error message that quotes a refused value shows them escaped (``\\x1b``, ``\\u202e``).
"""

from __future__ import annotations

import re

# Zero-width and direction marks, embeddings, overrides and isolates; the line and paragraph
# separators; the byte order mark.
_UNICODE = "\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
# C0 and C1 controls and DEL; text running over lines keeps tab and newline (not CR).
_HIDDEN_IN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_UNICODE}]")
_HIDDEN_IN_TEXT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_UNICODE}]")


def hidden_character(text: str, *, lines: bool = False) -> re.Match[str] | None:
    """The first character ``text`` may not hold (tab and newline are fine when ``lines``)."""
    return (_HIDDEN_IN_TEXT if lines else _HIDDEN_IN_LINE).search(text)


def printable(text: str) -> str:
    """``text`` with every such character written as its escape, on one line."""
    return _HIDDEN_IN_LINE.sub(lambda found: _escape(found.group()), text)


def _escape(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")
