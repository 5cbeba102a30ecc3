"""/api/v1/: the REST API's routes (included by drills/web/urls.py), and its OpenAPI schema."""

from __future__ import annotations

from django.http import Http404
from django.urls import path, re_path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from drills.web.api import checks, reports
from drills.web.api import gameday_endpoints as gamedays
from drills.web.api import halt_endpoints as halt
from drills.web.api import inventory_endpoints as inventory
from drills.web.api import playbook_endpoints as playbooks
from drills.web.api import run_endpoints as runs
from drills.web.api.base import ApiView


class SchemaView(SpectacularAPIView):
    """The schema is public, as the playbook schema is: it describes the API, not this
    server's data. YAML by default, JSON with ?format=json."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]


@extend_schema(exclude=True)
class NotFound(ApiView):
    """Any other path under /api/v1/: a JSON 404 (after authentication), not Django's page."""

    def _missing(self, request: Request, rest: str) -> Response:
        raise Http404(f"no such API path: /api/v1/{rest}; the API is described at /api/v1/schema/")

    get = post = put = patch = delete = _missing


urlpatterns = [
    path("schema/", SchemaView.as_view(), name="api-v1-schema"),
    path("playbooks/", playbooks.PlaybookList.as_view(), name="api-v1-playbooks"),
    path("playbooks/<slug:name>/", playbooks.PlaybookDetail.as_view(), name="api-v1-playbook"),
    path(
        "playbooks/<slug:name>/versions/",
        playbooks.VersionList.as_view(),
        name="api-v1-playbook-versions",
    ),
    path(
        "playbooks/<slug:name>/versions/<int:number>/",
        playbooks.VersionDetail.as_view(),
        name="api-v1-playbook-version",
    ),
    path(
        "playbooks/<slug:name>/diff/<int:a>/<int:b>/",
        playbooks.VersionDiff.as_view(),
        name="api-v1-playbook-diff",
    ),
    path("playbooks/<slug:name>/runs/", runs.RunStart.as_view(), name="api-v1-playbook-runs"),
    path("validate/", checks.Validate.as_view(), name="api-v1-validate"),
    path("plan/", checks.Plan.as_view(), name="api-v1-plan"),
    path("runs/", runs.RunList.as_view(), name="api-v1-runs"),
    path("runs/<int:run_id>/", runs.RunDetail.as_view(), name="api-v1-run"),
    path("runs/<int:run_id>/abort/", runs.RunAbort.as_view(), name="api-v1-run-abort"),
    path("runs/<int:run_id>/resume/", runs.RunResume.as_view(), name="api-v1-run-resume"),
    path("runs/<int:run_id>/approve/", runs.RunApprove.as_view(), name="api-v1-run-approve"),
    path("runs/<int:run_id>/decline/", runs.RunDecline.as_view(), name="api-v1-run-decline"),
    path("runs/<int:run_id>/events/", runs.RunEvents.as_view(), name="api-v1-run-events"),
    path(
        "runs/<int:run_id>/report/<str:fmt>/",
        reports.RunReport.as_view(),
        name="api-v1-run-report",
    ),
    path("gamedays/", gamedays.GameDayList.as_view(), name="api-v1-gamedays"),
    path("gamedays/<slug:gameday>/", gamedays.GameDayDetail.as_view(), name="api-v1-gameday"),
    path(
        "gamedays/<slug:gameday>/runs/",
        gamedays.GameDayRuns.as_view(),
        name="api-v1-gameday-runs",
    ),
    path(
        "gamedays/<slug:gameday>/start/",
        gamedays.GameDayStart.as_view(),
        name="api-v1-gameday-start",
    ),
    path(
        "gameday-runs/<int:gameday_run_id>/",
        gamedays.GameDayRunDetail.as_view(),
        name="api-v1-gameday-run",
    ),
    path(
        "gameday-runs/<int:gameday_run_id>/stop/",
        gamedays.GameDayRunStop.as_view(),
        name="api-v1-gameday-run-stop",
    ),
    path(
        "gameday-runs/<int:gameday_run_id>/report/<str:fmt>/",
        reports.GameDayRunReport.as_view(),
        name="api-v1-gameday-run-report",
    ),
    path("hosts/", inventory.HostList.as_view(), name="api-v1-hosts"),
    path("hosts/<slug:host>/", inventory.HostDetail.as_view(), name="api-v1-host"),
    path("halt/", halt.Halt.as_view(), name="api-v1-halt"),
    path("halt/release/", halt.Release.as_view(), name="api-v1-halt-release"),
    # Last: whatever matched nothing above.
    re_path(r"^(?P<rest>[\s\S]*)$", NotFound.as_view(), name="api-v1-not-found"),
]
