"""Reports of a run and of a game-day run, in every format (drills/web/report_files.py)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request

from drills.web import report_files
from drills.web.access import visible_gameday_run, visible_run
from drills.web.api.base import ApiView

TAG = ["reports"]
# Each format's type (drills/report/formats.py names them), as the schema documents them.
MEDIA = {
    (200, "text/html"): OpenApiTypes.STR,
    (200, "application/pdf"): OpenApiTypes.BINARY,
    (200, "application/json"): OpenApiTypes.OBJECT,
    (200, "application/xml"): OpenApiTypes.STR,
    (200, "text/markdown"): OpenApiTypes.STR,
}


class AnyAccept(BaseContentNegotiation):
    """A report's type is its format, not the Accept header (errors are JSON either way)."""

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0]

    def select_renderer(self, request: Request, renderers: list[Any], format_suffix: Any = None):  # type: ignore[no-untyped-def]
        return renderers[0], renderers[0].media_type


FMT = OpenApiParameter(
    "fmt", str, OpenApiParameter.PATH, enum=list(report_files.FORMATS), description="The format."
)


def _file(rendered: report_files.Rendered, request: Request) -> HttpResponse:
    response = HttpResponse(rendered.content, content_type=rendered.content_type)
    disposition = "attachment" if request.query_params.get("download") else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{rendered.filename}"'
    return response


def _check(fmt: str) -> None:
    if fmt not in report_files.FORMATS:
        raise Http404(f"no report format {fmt}; the formats are {', '.join(report_files.FORMATS)}")


def _render(render: Any, run: Any, fmt: str) -> report_files.Rendered:
    try:
        return render(run, fmt)  # type: ignore[no-any-return]
    except report_files.FormatUnavailable as exc:
        raise Http404(str(exc)) from None


class RunReport(ApiView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        tags=TAG,
        parameters=[FMT],
        responses=MEDIA,
        summary="A run's report (html, pdf, json, junit or md); 404 for one not rendered here",
    )
    def get(self, request: Request, run_id: int, fmt: str) -> HttpResponse:
        run = visible_run(request, run_id)
        _check(fmt)
        return _file(_render(report_files.render_run, run, fmt), request)


class GameDayRunReport(ApiView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        tags=TAG,
        parameters=[FMT],
        responses=MEDIA,
        summary="A game-day run's combined report",
    )
    def get(self, request: Request, gameday_run_id: int, fmt: str) -> HttpResponse:
        run = visible_gameday_run(request, gameday_run_id)
        _check(fmt)
        return _file(_render(report_files.render_gameday_run, run, fmt), request)
