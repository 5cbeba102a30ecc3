"""Report downloads: a run's, or a game day run's, report in any format (drills/report), for
whoever may see the run's page. Thin: the report package does the work.

``?before=SECONDS&after=SECONDS`` bound the charts around the faults, as `drillhall report
--before/--after` do.
"""

from __future__ import annotations

import math

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from drills.report.formats import FORMATS, Rendered, render_gameday_run, render_run
from drills.report.model import ChartWindow
from drills.report.pdf import PdfUnavailable
from drills.web.access import visible_gameday_run
from drills.web.views.run_pages import accessible_run


def _seconds(request: HttpRequest, name: str) -> float | None:
    raw = request.GET.get(name, "")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None  # a bad bound shows the whole run rather than an error page
    return value if math.isfinite(value) and value >= 0 else None


def _window(request: HttpRequest) -> ChartWindow:
    return ChartWindow(_seconds(request, "before"), _seconds(request, "after"))


def _download(rendered: Rendered) -> HttpResponse:
    response = HttpResponse(rendered.content, content_type=rendered.content_type)
    response["Content-Disposition"] = f'attachment; filename="{rendered.filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _unavailable(exc: PdfUnavailable) -> HttpResponse:
    return HttpResponse(str(exc), status=503, content_type="text/plain; charset=utf-8")


@login_required
@require_GET
def run_report(request: HttpRequest, run_id: int, fmt: str) -> HttpResponse:
    run = accessible_run(request, run_id)
    if fmt not in FORMATS:
        raise Http404("No such report format")
    try:
        return _download(render_run(run, fmt, _window(request)))
    except PdfUnavailable as exc:
        return _unavailable(exc)


@login_required
@require_GET
def gameday_run_report(request: HttpRequest, gameday_run_id: int, fmt: str) -> HttpResponse:
    run = visible_gameday_run(request, gameday_run_id)
    if fmt not in FORMATS:
        raise Http404("No such report format")
    try:
        return _download(render_gameday_run(run, fmt, _window(request)))
    except PdfUnavailable as exc:
        return _unavailable(exc)
