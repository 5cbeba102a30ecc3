"""One line per run event for the terminal: what `drillhall run` prints as the run goes.

The sentences are the report's and the live page's (drills/report/sentences.py); the terminal
leaves out the samples, which come several a second.
"""

from __future__ import annotations

from typing import Any

from drills.report.sentences import describe as sentence


def describe(type: str, d: dict[str, Any]) -> str:
    if type == "sample":
        return ""
    return sentence(type, d)
