"""Problems found in a playbook, each pinned to a line and column."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from drills.playbook.redaction import redact
from drills.playbook.text import printable


@dataclass
class Issue:
    """One problem; ``line`` and ``column`` are 1-based."""

    file: str
    line: int
    column: int
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        # One line, whatever the message quotes of the playbook: its control characters
        # escaped, so a refused value can neither drive a terminal nor fake another issue.
        text = f"{self.file}:{self.line}:{self.column}: {self.message}"
        return printable(f"{text} (hint: {self.hint})" if self.hint else text)


class PlaybookError(Exception):
    """A playbook that cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        # Messages quote what was written, and what was written may hold a password.
        self.issues: list[Issue] = [
            Issue(i.file, i.line, i.column, redact(i.message), redact(i.hint) if i.hint else i.hint)
            for i in issues
        ]
        super().__init__("\n".join(str(issue) for issue in self.issues))

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)
