"""Approve, then the run page, in a real browser: daphne, Redis, the real views and websocket,
and a real orchestrator worker that takes the run once it is approved.

Two people: max started the run and watches its page; ann, an approver of the team, opens it,
sees what she approves and approves it. Max's page follows without a reload. No agent runs,
so the orchestrator ends the run in error at preflight: what is tested is that nothing took
the run before the approval and that it was taken after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium_browser, new_page
from tests.web.approval_queue import OrchestratorQueue
from tests.web.site import CHECKOUT_YAML, Site, log_in, new_site

PASSWORD = "browser-Pass-1"

SEED = """
import django; django.setup()
from django.contrib.auth.models import Group, User
from drills.web.hosts import register_host
from drills.web.models import Host, Membership, Playbook
from drills.web.run_control import start_run
team = Group.objects.create(name="platform-team")
users = {}
for name, role in [("max", "operator"), ("ann", "approver")]:
    users[name] = User.objects.create_user(name, password=%(password)r)
    users[name].groups.add(team)
    Membership.objects.create(user=users[name], team=team, role=role)
register_host("web", "10.77.0.2", "dh-web")
register_host("db1", "10.77.0.3", "dh-db1")
Host.objects.filter(name="db1").update(protected=True)
# Agent keys, so that the orchestrator's only reason to stop at preflight is the absent agents.
from django.conf import settings
from injector.signing import ensure_agent_key
for host in ("web", "db1"):
    ensure_agent_key(settings.DRILLHALL_CREDENTIALS_DIR, host)
playbook = Playbook.objects.create(name="checkout-partition", team=team)
version = playbook.save_version(open(%(yaml)r).read())
run = start_run(version, users["max"])
print(run.id, run.key, run.state, version.content_hash)
"""


@pytest.fixture
def site(tmp_path: Path, needs_redis: str) -> Iterator[Site]:
    site = new_site(tmp_path, needs_redis)
    site.env["DRILLHALL_REAPER"] = "false"
    queue = OrchestratorQueue(needs_redis)
    queue.clear()
    try:
        yield site
    finally:
        site.stop_workers()
        queue.clear()


def open_run(page: Any, site: Site, user: str, run_id: int) -> None:
    log_in(page, site, user, PASSWORD)
    page.goto(f"{site.url}/runs/{run_id}/")
    page.wait_for_function("document.querySelector('#connection').textContent === 'live'")


@pytest.mark.browser
@pytest.mark.timeout(180)
def test_an_approver_approves_and_the_starters_page_follows_live(
    site: Site, needs_redis: str
) -> None:
    out = site.python(SEED % {"password": PASSWORD, "yaml": str(CHECKOUT_YAML)})
    run_id, key, state, content_hash = out.split()
    assert state == "awaiting_approval"
    queue = OrchestratorQueue(needs_redis)
    with site.serving(), chromium_browser() as browser:
        site.start_orchestrator()
        watcher, approver = new_page(browser), new_page(browser)

        # The starter sees the request and why he cannot approve it himself.
        open_run(watcher, site, "max", int(run_id))
        assert watcher.inner_text("#run-state") == "awaiting approval"
        assert watcher.inner_text("#approval-status").startswith("Waiting for approval:")
        assert watcher.inner_text("#approval-refusal").startswith(
            f"You started run {run_id}: another person with the approver role"
        )
        assert watcher.locator("#approve-button").count() == 0
        assert queue.run_keys() == []  # nothing handed to the orchestrator yet

        # The approver sees what she approves: the stored plan, blast radius, version, hash.
        open_run(approver, site, "ann", int(run_id))
        plan = approver.inner_text("#approval-plan")
        assert "network.partition" in plan and "db1" in plan
        assert approver.inner_text("#approval-blast-radius").startswith("Blast radius: db1")
        assert approver.inner_text("#approval-hash") == content_hash
        assert approver.inner_text("#approval-version") == "checkout-partition v1"
        assert approver.inner_text("#approval-asker").startswith("max, ")
        approver.click("#approve-button")
        approver.wait_for_url(f"{site.url}/runs/{run_id}/")
        status = approver.inner_text("#approval-status")
        assert status.startswith("Approved by ann at ")
        assert status.endswith(f"for checkout-partition v1, content sha256 {content_hash}.")
        assert approver.locator("#approve-button").count() == 0

        # The starter's page follows over its websocket, without a reload: the approval,
        # then the orchestrator taking the run (it ends at preflight: no agent runs here).
        watcher.wait_for_function(
            "document.querySelector('#approval').dataset.decision === 'approved'"
        )
        live = watcher.inner_text("#approval-status")
        assert live.startswith("Approved by ann at ") and live.endswith(f"{content_hash}.")
        # Preflight is the runner's first step: the orchestrator's approval check let it by.
        watcher.wait_for_function(
            "document.querySelector('#event-log').innerText"
            ".includes('state: preflight (after pending)')",
            timeout=60_000,
        )
        log = watcher.inner_text("#event-log")
        assert "approved by ann: checkout-partition v1" in log
        assert "state: pending (after awaiting approval)" in log
        assert "could not start" not in log
        assert watcher.errors == [] and approver.errors == []  # type: ignore[attr-defined]
