"""The app's pages and JSON endpoints, included by the project's root URL configuration
(``drillhall/urls.py``), the other end of this one."""

from __future__ import annotations

from django.urls import include, path

from drills.web.views import (
    approval_pages,
    audit_log,
    editor,
    editor_api,
    gameday_editor,
    gameday_pages,
    gameday_run_pages,
    killswitch,
    metrics,
    playbook_pages,
    report_downloads,
    run_pages,
    token_pages,
    version_pages,
)

urlpatterns = [
    path("", playbook_pages.playbook_list, name="playbook-list"),
    # Before playbooks/<name>/: "new" is a valid slug, and is reserved as a playbook name.
    path("playbooks/new/", editor.playbook_new, name="playbook-new"),
    path("playbooks/<slug:name>/", playbook_pages.playbook_detail, name="playbook-detail"),
    path("playbooks/<slug:name>/run", run_pages.playbook_run, name="playbook-run"),
    path("playbooks/<slug:name>/edit/", editor.playbook_edit, name="playbook-edit"),
    path(
        "playbooks/<slug:name>/versions/", version_pages.playbook_versions, name="playbook-versions"
    ),
    path(
        "playbooks/<slug:name>/versions/<int:number>/restore",
        version_pages.playbook_restore,
        name="playbook-restore",
    ),
    path(
        "playbooks/<slug:name>/diff/", version_pages.playbook_diff_pick, name="playbook-diff-pick"
    ),
    path(
        "playbooks/<slug:name>/diff/<int:a>/<int:b>/",
        version_pages.playbook_diff,
        name="playbook-diff",
    ),
    path("gamedays/", gameday_pages.gameday_list, name="gameday-list"),
    # Before gamedays/<gameday>/: "new" and "runs" are reserved as game day names.
    path("gamedays/new/", gameday_editor.gameday_new, name="gameday-new"),
    path(
        "gamedays/runs/<int:gameday_run_id>/",
        gameday_run_pages.gameday_run_detail,
        name="gameday-run-detail",
    ),
    path(
        "gamedays/runs/<int:gameday_run_id>/state",
        gameday_run_pages.gameday_run_state,
        name="gameday-run-state",
    ),
    path(
        "gamedays/runs/<int:gameday_run_id>/stop",
        gameday_run_pages.gameday_run_stop,
        name="gameday-run-stop",
    ),
    path(
        "gamedays/runs/<int:gameday_run_id>/observations",
        gameday_run_pages.gameday_observation,
        name="gameday-observation",
    ),
    path(
        "gamedays/runs/<int:gameday_run_id>/action-items",
        gameday_run_pages.gameday_action_item,
        name="gameday-action-item",
    ),
    path(
        "gamedays/runs/<int:gameday_run_id>/action-items/<int:item_id>/done",
        gameday_run_pages.gameday_action_item_done,
        name="gameday-action-item-done",
    ),
    path(
        "gamedays/runs/<int:gameday_run_id>/report/<slug:fmt>",
        report_downloads.gameday_run_report,
        name="gameday-run-report",
    ),
    path("gamedays/<slug:gameday>/", gameday_pages.gameday_detail, name="gameday-detail"),
    path("gamedays/<slug:gameday>/edit/", gameday_editor.gameday_edit, name="gameday-edit"),
    path(
        "gamedays/<slug:gameday>/versions/",
        version_pages.gameday_versions,
        name="gameday-versions",
    ),
    path(
        "gamedays/<slug:gameday>/diff/", version_pages.gameday_diff_pick, name="gameday-diff-pick"
    ),
    path(
        "gamedays/<slug:gameday>/diff/<int:a>/<int:b>/",
        version_pages.gameday_diff,
        name="gameday-diff",
    ),
    path("gamedays/<slug:gameday>/start", gameday_pages.gameday_start, name="gameday-start"),
    path("gamedays/<slug:gameday>/pause", gameday_pages.gameday_pause, name="gameday-pause"),
    path("gamedays/<slug:gameday>/resume", gameday_pages.gameday_resume, name="gameday-resume"),
    path("runs/<int:run_id>/", run_pages.run_detail, name="run-detail"),
    path("runs/<int:run_id>/abort", run_pages.run_abort, name="run-abort"),
    path("runs/<int:run_id>/resume", run_pages.run_resume, name="run-resume"),
    path("runs/<int:run_id>/approve", approval_pages.run_approve, name="run-approve"),
    path("runs/<int:run_id>/decline", approval_pages.run_decline, name="run-decline"),
    path("runs/<int:run_id>/events", run_pages.run_events, name="run-events"),
    path("runs/<int:run_id>/report/<slug:fmt>", report_downloads.run_report, name="run-report"),
    path("halt", killswitch.halt_view, name="halt-all"),
    path("halt/release", killswitch.release_view, name="halt-release"),
    # The REST API (drills/web/api/, docs/api.md); the editor's endpoints below stay as they are.
    path("api/v1/", include("drills.web.api.routes")),
    path("account/tokens/", token_pages.token_list, name="api-tokens"),
    path("account/tokens/<int:token_id>/revoke", token_pages.token_revoke, name="api-token-revoke"),
    path("api/validate", editor_api.validate, name="api-validate"),
    path("api/plan", editor_api.plan, name="api-plan"),
    path(
        "api/playbooks/<slug:name>/versions/",
        editor_api.playbook_versions,
        name="api-playbook-versions",
    ),
    path("api/gamedays/validate", editor_api.validate_gameday, name="api-gameday-validate"),
    path("schema/playbook.json", editor_api.playbook_schema, name="playbook-schema"),
    path("schema/gameday.json", editor_api.gameday_schema, name="gameday-schema"),
    # Prometheus' scrape target: by address and token, not by person (docs/metrics.md).
    path("metrics", metrics.metrics, name="metrics"),
    path("audit/", audit_log.audit_log, name="audit-log"),
    path("audit/export.csv", audit_log.audit_export_csv, name="audit-export-csv"),
    path("audit/export.json", audit_log.audit_export_json, name="audit-export-json"),
]
