"""Every report format of a run or a game day's run, behind one call: the shared interface
between the report, the web pages, the command line and the API.

``render_run(run, fmt)`` and ``render_gameday_run(run, fmt)`` load the stored run (the one
thin Django step, drills/web/report_source.py), build the report model and render it. The
model and the renderers are framework-free and take plain data: ``render_report`` is the same
for a model built from a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from drills.report.build import build_gameday_report, build_report
from drills.report.format_names import FORMATS
from drills.report.html import render_gameday_html, render_run_html
from drills.report.json_report import render_json
from drills.report.junit import render_gameday_junit, render_run_junit
from drills.report.markdown import render_gameday_markdown, render_run_markdown
from drills.report.model import ChartWindow, GameDayReport, RunReport
from drills.report.pdf import html_to_pdf

if TYPE_CHECKING:
    from drills.web.models import DrillRun, GameDayRun


CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "json": "application/json",
    "junit": "application/xml",
    "md": "text/markdown; charset=utf-8",
}
EXTENSIONS = {"html": "html", "pdf": "pdf", "json": "json", "junit": "junit.xml", "md": "md"}


class UnknownFormat(ValueError):
    def __init__(self, fmt: str) -> None:
        super().__init__(f"there is no report format {fmt!r}; choose one of {', '.join(FORMATS)}")


@dataclass(frozen=True)
class Rendered:
    content: bytes
    content_type: str
    filename: str


def _encode(report: RunReport | GameDayReport, fmt: str) -> bytes:
    is_run = isinstance(report, RunReport)
    if fmt == "html":
        return (render_run_html(report) if is_run else render_gameday_html(report)).encode()  # type: ignore[arg-type]
    if fmt == "pdf":
        html = render_run_html(report) if is_run else render_gameday_html(report)  # type: ignore[arg-type]
        return html_to_pdf(html)
    if fmt == "json":
        return render_json(report).encode()
    if fmt == "junit":
        return render_run_junit(report) if is_run else render_gameday_junit(report)  # type: ignore[arg-type]
    if fmt == "md":
        md = render_run_markdown(report) if is_run else render_gameday_markdown(report)  # type: ignore[arg-type]
        return md.encode()
    raise UnknownFormat(fmt)


def filename_of(report: RunReport | GameDayReport, fmt: str) -> str:
    if isinstance(report, RunReport):
        stem = f"drillhall-{report.playbook}-run-{report.run_id}"
    else:
        stem = f"drillhall-gameday-{report.gameday}-run-{report.run_id}"
    # Playbook and game day names are slugs; anything else is dropped, for the header's sake.
    stem = "".join(c for c in stem if c.isalnum() or c in "-_.")
    return f"{stem}.{EXTENSIONS[fmt]}"


def render_report(report: RunReport | GameDayReport, fmt: str) -> Rendered:
    if fmt not in FORMATS:
        raise UnknownFormat(fmt)
    return Rendered(_encode(report, fmt), CONTENT_TYPES[fmt], filename_of(report, fmt))


def render_run(run: DrillRun, fmt: str, window: ChartWindow | None = None) -> Rendered:
    from drills.web.report_source import run_source

    if fmt not in FORMATS:
        raise UnknownFormat(fmt)
    return render_report(build_report(run_source(run), window), fmt)


def render_gameday_run(run: GameDayRun, fmt: str, window: ChartWindow | None = None) -> Rendered:
    from drills.web.report_source import gameday_source

    if fmt not in FORMATS:
        raise UnknownFormat(fmt)
    return render_report(build_gameday_report(gameday_source(run), window), fmt)
