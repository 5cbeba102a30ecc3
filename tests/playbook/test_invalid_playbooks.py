"""Every invalid playbook under tests/fixtures/playbooks/invalid is rejected at the right place.

Each ``name.yaml`` has a ``name.expect``: line 1 is "LINE:COL", line 2 a substring of the issue
(hint included) reported there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drills.playbook.errors import PlaybookError
from drills.playbook.parser import parse_file

INVALID = Path(__file__).resolve().parent.parent / "fixtures" / "playbooks" / "invalid"
CASES = sorted(INVALID.glob("*.yaml"))


def test_there_are_enough_invalid_fixtures() -> None:
    assert len(CASES) >= 45
    missing = [case.name for case in CASES if not case.with_suffix(".expect").exists()]
    assert missing == []


@pytest.mark.parametrize("path", CASES, ids=[case.stem for case in CASES])
def test_invalid_playbook_reports_issue_at_expected_position(path: Path) -> None:
    position, expected = path.with_suffix(".expect").read_text().splitlines()[:2]
    line, column = (int(part) for part in position.split(":"))

    with pytest.raises(PlaybookError) as caught:
        parse_file(path)

    issues = caught.value.issues
    assert issues, "a PlaybookError must carry at least one issue"
    assert all(issue.file == str(path) for issue in issues)
    at_position = [str(issue) for issue in issues if (issue.line, issue.column) == (line, column)]
    assert any(expected in text for text in at_position), (
        f"expected {expected!r} at {line}:{column}; got:\n{caught.value}"
    )
