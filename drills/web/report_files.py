"""A run's report as a file, in one of the agreed formats: the one place the API (and later
the pages' download buttons) asks for one.

The agreed interface of issue 13 is ``drills/report/formats.py``: ``FORMATS`` and
``render_run(run, fmt) -> Rendered(content, content_type, filename)`` (and
``render_gameday_run``). Until that module is on main, this one serves the formats that exist
today (the run document as JSON, the HTML report) in the same shape; once it is there, it is
used as it is, for every format, and the fallback below can be deleted.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from typing import Any

# The agreed list (issue 13): the API documents every one of them, whether or not this server
# renders it yet (see available()).
FORMATS = ("html", "pdf", "json", "junit", "md")


class FormatUnavailable(Exception):
    """A known format this server does not render (yet); the message is a sentence."""


@dataclass(frozen=True)
class Rendered:
    content: bytes
    content_type: str
    filename: str


def _formats_module() -> Any:
    if importlib.util.find_spec("drills.report.formats") is None:
        return None
    return importlib.import_module("drills.report.formats")


def available() -> tuple[str, ...]:
    module = _formats_module()
    return tuple(module.FORMATS) if module is not None else ("html", "json")


def _unavailable(fmt: str) -> FormatUnavailable:
    return FormatUnavailable(
        f"this server does not render {fmt} reports yet; it renders {', '.join(available())}"
    )


def render_run(run: Any, fmt: str) -> Rendered:
    module = _formats_module()
    if module is not None:
        if fmt not in module.FORMATS:
            raise _unavailable(fmt)
        done = module.render_run(run, fmt)
        return Rendered(done.content, done.content_type, done.filename)
    from drills.web.run_document import run_document

    document = run_document(run)
    stem = f"{run.version.playbook.name}-run-{run.id}"
    if fmt == "json":
        text = json.dumps(document, indent=2, sort_keys=True)
        return Rendered(text.encode(), "application/json", f"{stem}.json")
    if fmt == "html":
        from drills.report.html import render_html

        return Rendered(render_html(document).encode(), "text/html; charset=utf-8", f"{stem}.html")
    raise _unavailable(fmt)


def render_gameday_run(run: Any, fmt: str) -> Rendered:
    module = _formats_module()
    if module is not None:
        if fmt not in module.FORMATS:
            raise _unavailable(fmt)
        done = module.render_gameday_run(run, fmt)
        return Rendered(done.content, done.content_type, done.filename)
    if fmt != "json":
        raise FormatUnavailable(
            "this server does not render game-day reports yet, except as json (the game-day "
            "run's state and combined result)"
        )
    from drills.web.api.serializers import GameDayRunSerializer

    data = GameDayRunSerializer(GameDayRunSerializer.of(run)).data
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    return Rendered(text.encode(), "application/json", f"{run.gameday.name}-run-{run.id}.json")
