"""Text in, Playbook out: or a PlaybookError listing every problem with its line and column."""

from __future__ import annotations

import gc
from pathlib import Path as FilePath

from pydantic import ValidationError

from drills.playbook.errors import Issue, PlaybookError
from drills.playbook.loader import load_yaml, read_text
from drills.playbook.model import CROSS_CHECKED, Playbook, check_limits, cross_check
from drills.playbook.model_errors import issue_from_pydantic, kind_of, value_position
from drills.playbook.redaction import find_credentials


def parse_playbook(text: str, filename: str = "<playbook>") -> Playbook:
    """Parse and validate a playbook; raises PlaybookError with all issues sorted by position."""
    # Tens of thousands of short-lived objects, none cyclic: the cyclic collector would only
    # rescan them (a third of the time on a 256 KiB file).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse(text, filename)
    except PlaybookError:
        raise
    except Exception as error:
        # Bad input must never surface as a traceback; this is the last line of that promise.
        raise PlaybookError(
            [Issue(filename, 1, 1, f"could not read the playbook: {error}")]
        ) from None
    finally:
        if collecting:
            gc.enable()


def parse_file(path: str | FilePath) -> Playbook:
    """Read and parse a playbook file (UTF-8)."""
    return parse_playbook(read_text(path), str(path))


def _parse(text: str, filename: str) -> Playbook:
    loaded = load_yaml(text, filename)
    data = loaded.data
    if data is None:
        raise PlaybookError(
            [
                Issue(
                    filename, 1, 1, "the playbook is empty", "start with 'apiVersion: drillhall/v1'"
                )
            ]
        )
    if not isinstance(data, dict):
        pos = loaded.position(())
        raise PlaybookError(
            [
                Issue(
                    filename,
                    pos.line,
                    pos.column,
                    f"expected a mapping at the top level (apiVersion, kind, metadata, ...), "
                    f"found {kind_of(data)}",
                )
            ]
        )
    issues: list[Issue] = []
    playbook: Playbook | None = None
    unplaced_cross_references: list[str] = []
    try:
        # by_name=False: the YAML must use the documented keys ("from"), not Python names.
        playbook = Playbook.model_validate(data, by_name=False, context={CROSS_CHECKED: True})
    except ValidationError as error:
        for detail in error.errors():
            if detail["type"] == "cross_reference":
                unplaced_cross_references.append(detail["msg"])
            else:
                issues.append(issue_from_pydantic(detail, loaded, filename, Playbook, "playbook"))
    issues.extend(_written_credentials(text, filename, {i.line for i in issues}))
    problems = cross_check(data)
    if playbook is not None:
        # The limits need the steps as numbers: only a playbook that validated can be timed.
        problems += check_limits(playbook)
    for problem in problems:
        pos = value_position(loaded, problem.path, problem.offset)
        issues.append(Issue(filename, pos.line, pos.column, problem.message, problem.hint))
    if not issues and unplaced_cross_references:
        # Should not happen (both run cross_check and check_limits), but never hide a problem.
        issues.extend(Issue(filename, 1, 1, message) for message in unplaced_cross_references)
    if issues or playbook is None:
        unique = {(i.line, i.column, i.message, i.hint): i for i in issues}
        raise PlaybookError(sorted(unique.values(), key=lambda i: (i.line, i.column, i.message)))
    return playbook


def _written_credentials(text: str, filename: str, reported: set[int]) -> list[Issue]:
    """A credential anywhere in the text (a value, a comment) is an issue at its first character,
    unless its line has an issue already (the model's about a DSN's password or a URL's user)."""
    issues = []
    for credential in find_credentials(text):
        line = text.count("\n", 0, credential.start) + 1
        column = credential.start - (text.rfind("\n", 0, credential.start) + 1) + 1
        if line in reported:
            continue
        issues.append(
            Issue(
                filename,
                line,
                column,
                f"a credential ({credential.kind}) is written in the playbook; a playbook "
                "names its secrets and never holds them",
                "remove it; a PostgreSQL canary reads its DSN from an environment variable the "
                "operator allows (dsn_env: SHOP_PG_DSN) or from the secret store "
                "(secret: shop-pg)",
            )
        )
    return issues
