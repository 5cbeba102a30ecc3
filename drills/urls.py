from __future__ import annotations

from django.urls import path

from drills.views import api, editor, halt, playbooks, runs, versions

urlpatterns = [
    path("", playbooks.playbook_list, name="playbook-list"),
    # Before playbooks/<name>/: "new" is a valid slug, and is reserved as a playbook name.
    path("playbooks/new/", editor.playbook_new, name="playbook-new"),
    path("playbooks/<slug:name>/", playbooks.playbook_detail, name="playbook-detail"),
    path("playbooks/<slug:name>/run", runs.playbook_run, name="playbook-run"),
    path("playbooks/<slug:name>/edit/", editor.playbook_edit, name="playbook-edit"),
    path("playbooks/<slug:name>/versions/", versions.playbook_versions, name="playbook-versions"),
    path(
        "playbooks/<slug:name>/versions/<int:number>/restore",
        versions.playbook_restore,
        name="playbook-restore",
    ),
    path("playbooks/<slug:name>/diff/", versions.playbook_diff_pick, name="playbook-diff-pick"),
    path(
        "playbooks/<slug:name>/diff/<int:a>/<int:b>/",
        versions.playbook_diff,
        name="playbook-diff",
    ),
    path("runs/<int:run_id>/", runs.run_detail, name="run-detail"),
    path("runs/<int:run_id>/abort", runs.run_abort, name="run-abort"),
    path("runs/<int:run_id>/resume", runs.run_resume, name="run-resume"),
    path("runs/<int:run_id>/events", runs.run_events, name="run-events"),
    path("halt", halt.halt_view, name="halt-all"),
    path("halt/release", halt.release_view, name="halt-release"),
    path("api/validate", api.validate, name="api-validate"),
    path("api/plan", api.plan, name="api-plan"),
    path(
        "api/playbooks/<slug:name>/versions/",
        api.playbook_versions,
        name="api-playbook-versions",
    ),
    path("schema/playbook.json", api.playbook_schema, name="playbook-schema"),
]
