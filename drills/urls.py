from __future__ import annotations

from django.urls import path

from drills.views import playbooks, runs

urlpatterns = [
    path("", playbooks.playbook_list, name="playbook-list"),
    path("playbooks/<slug:name>/", playbooks.playbook_detail, name="playbook-detail"),
    path("playbooks/<slug:name>/run", runs.playbook_run, name="playbook-run"),
    path("runs/<int:run_id>/", runs.run_detail, name="run-detail"),
    path("runs/<int:run_id>/abort", runs.run_abort, name="run-abort"),
    path("runs/<int:run_id>/events", runs.run_events, name="run-events"),
]
