"""A game day made, scheduled, watched and written about in a real browser: daphne, a Celery
orchestrator worker, Celery beat with the database scheduler, Redis and chromium.

The game day is written in the editor (a typo is marked at its line and column first), fires
once a little ahead on beat's clock with nobody touching it, and runs two drills that only
wait (tests/fixtures/playbooks/cli/wait-only.yaml under two names), so no lab or agent is
needed. Its live page is opened while it runs and never reloaded: the drills' states change
in place, the page catches up after its server was away, and a drill's link opens its own
live page. Then an
observation and an action item are recorded, and found stored and shown.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drills.cli.workers import active_queues
from tests.browser import chromium_browser, new_page
from tests.conftest import redis_up, require
from tests.web.site import ROOT, Site, log_in, new_site, stop, worker_redis_url

PASSWORD = "gameday-Pass-1"
BUNDLE = ROOT / "static" / "vendor" / "editor.bundle.js"
WAIT_ONLY = ROOT / "tests" / "fixtures" / "playbooks" / "cli" / "wait-only.yaml"
ZONE = "Europe/Berlin"
# How far ahead the game day is scheduled: time to write and save it in the editor.
LEAD_SECONDS = 35
RUNNING = {"pending", "preflight", "baseline", "injecting", "observing", "reverting", "recovering"}

SEED = """
import django; django.setup()
from django.contrib.auth.models import Group, User
from drills.web.clock_task import ensure_clock_task
from drills.web.models import Membership, Playbook
user = User.objects.create_user("olive", password=%(password)r)
team = Group.objects.create(name="platform-team")
for role in ("author", "operator"):
    Membership.objects.create(user=user, team=team, role=role)
text = open(%(wait_only)r).read()
for name in ("wait-a", "wait-b"):
    playbook = Playbook.objects.create(name=name, owner=user, team=team)
    playbook.save_version(text.replace("name: wait-only", "name: " + name), author=user)
ensure_clock_task()  # beat's one periodic task: the game-day clock
"""

# Written while the page's server is down: no message can reach the page about it.
WRITE_BEHIND_ITS_BACK = """
import django; django.setup()
from django.contrib.auth.models import User
from drills.web.models import ActionItem, GameDayRun
ActionItem.objects.create(
    run=GameDayRun.objects.get(), text="Written while the page was away",
    owner=User.objects.get(username="olive"),
)
"""

STORED = """
import json
import django; django.setup()
from drills.web.models import ActionItem, GameDayRun, Observation
run = GameDayRun.objects.get()
seen = Observation.objects.get(run=run)
item = ActionItem.objects.get(run=run, text__startswith="Make")
print(json.dumps({
    "state": run.state, "source": run.source, "fire_time": run.fire_time.isoformat(),
    "drills": [d["state"] for d in run.result["drills"]],
    "verdict": seen.verdict, "position": seen.drill_run.gameday_position,
    "detected": seen.detected, "detected_at": seen.detected_at.isoformat(), "notes": seen.notes,
    "author": seen.author.username,
    "item": item.text, "owner": item.owner.username, "done": item.done,
}))
"""

# Collects the states each drill row had, every time the page put a new fragment in place.
WATCH_STATES = """
() => {
  window.gamedayPageId = Math.random();  // gone if the page ever reloads
  window.drillStates = {1: [], 2: []};
  const note = () => document.querySelectorAll('#gameday-run-state tr[data-drill]').forEach(
    (row) => {
      const seen = window.drillStates[row.dataset.drill];
      if (seen[seen.length - 1] !== row.dataset.state) seen.push(row.dataset.state);
    });
  note();
  new MutationObserver(note).observe(document.getElementById('gameday-live'), {childList: true});
  return window.gamedayPageId;
}
"""


def gameday_text(fire_at: dt.datetime, misspelt: bool = False) -> str:
    local = fire_at.astimezone(zoneinfo.ZoneInfo(ZONE))
    goal = "gaol" if misspelt else "goal"
    return (
        "apiVersion: drillhall/v1\n"
        "kind: GameDay\n"
        "metadata:\n"
        "  name: browser-day\n"
        f"  {goal}: Both waits pass while nobody touches anything\n"
        "  owner: platform-team\n"
        "participants:\n"
        "  - {user: olive, position: owner}\n"
        "drills:\n"
        "  - {playbook: wait-a}\n"
        "  - {playbook: wait-b, version: 1}\n"
        "policy: {on_failure: stop, pause: 4s}\n"
        "schedule:\n"
        f"  timezone: {ZONE}\n"
        f"  once: {local:%Y-%m-%dT%H:%M:%S}\n"
    )


def beat_argv() -> list[str]:
    """Celery beat with the database scheduler (django-celery-beat), as the deployment runs it."""
    return [
        sys.executable, "-m", "celery", "-A", "drillhall", "beat",
        "-S", "django_celery_beat.schedulers:DatabaseScheduler", "--max-interval", "1",
        "-l", "INFO",
    ]  # fmt: skip


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    require(BUNDLE.is_file(), "needs the editor bundle (scripts/setup.sh builds it)")
    redis_url = worker_redis_url()
    require(redis_up(redis_url), f"needs a Redis server at {redis_url} (make setup starts one)")
    require(
        "orchestrator" not in active_queues(0.5, redis_url),
        f"another orchestrator worker consumes the queue on {redis_url}",
    )
    s = new_site(tmp_path, redis_url)
    s.env["DRILLHALL_GAMEDAY_TICK_SECONDS"] = "1"
    s.python(SEED % {"password": PASSWORD, "wait_only": str(WAIT_ONLY)})
    beat_log = tmp_path / "beat.log"
    s.start_web()
    beat = None
    try:
        s.start_orchestrator()
        with beat_log.open("ab") as log:
            beat = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
                beat_argv(), cwd=tmp_path, env=s.env, stdout=log, stderr=log
            )
        yield s
    finally:
        if beat is not None:
            stop(beat)
        s.stop_workers()
        s.stop_web()


def wait_validated(page: Any, state: str) -> None:
    page.wait_for_selector(f"#validation-status[data-state='{state}']")


def replace_text(page: Any, text: str) -> None:
    """Select everything in the editor and put ``text`` in its place, as a paste would."""
    page.locator("#editor .cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)


def wait_for_run_link(page: Any, site: Site, deadline: float) -> str:
    """Look at the game day's page until its schedule has started a run; that run's URL."""
    while True:
        page.goto(f"{site.url}/gamedays/browser-day/")
        link = page.locator("#run-table tr[data-run] a")
        if link.count():
            return str(link.first.get_attribute("href"))
        assert time.monotonic() < deadline, site.worker_log(next(iter(site.workers)))
        page.wait_for_timeout(500)


@pytest.mark.browser
@pytest.mark.timeout(180)
def test_a_game_day_written_in_the_editor_fires_runs_live_and_is_written_about(site: Site):
    with chromium_browser() as browser:
        page = new_page(browser, timeout_ms=30_000)
        log_in(page, site, "olive", PASSWORD)

        # Write it: the editor marks a typo at its line and column, as it does for playbooks.
        page.goto(f"{site.url}/gamedays/")
        page.click("#new-gameday-link")
        page.wait_for_selector("#editor .cm-editor")
        fire_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(
            seconds=LEAD_SECONDS
        )
        fire_at += dt.timedelta(seconds=1 if fire_at.second == 0 else 0)  # shown to the second
        replace_text(page, gameday_text(fire_at, misspelt=True))
        wait_validated(page, "invalid")
        problem = page.locator("#problems li[data-line='5'][data-column='3']", has_text="gaol")
        assert problem.count() == 1
        page.locator(".cm-lintRange-error", has_text="gaol").wait_for()
        replace_text(page, gameday_text(fire_at))
        wait_validated(page, "valid")

        # Beside it: the schedule in sentences and its one fire time, in Berlin and UTC.
        page.wait_for_selector("#fire-preview tr[data-outcome='runs']")
        local = fire_at.astimezone(zoneinfo.ZoneInfo(ZONE))
        preview = page.inner_text("#fire-preview")
        assert f"{local:%a %Y-%m-%d %H:%M:%S} CET" in preview
        assert f"{fire_at:%Y-%m-%d %H:%M:%S} UTC" in preview
        assert f"Runs once, at {local:%Y-%m-%d %H:%M:%S} in {ZONE}." in page.inner_text("#plan")
        page.fill("#save-message", "first game day")
        with page.expect_navigation():
            page.click("#save-button")
        assert page.url.endswith("/gamedays/browser-day/")
        assert "Created game day browser-day v1." in page.inner_text(".messages")
        assert page.locator("#preview tr[data-outcome='runs']").count() == 1
        assert page.locator("#drill-list a").all_inner_texts() == ["wait-a", "wait-b"]
        assert page.locator(".drill-warning").count() == 0

        # Nobody presses anything: beat's clock starts it at the fire time.
        run_url = wait_for_run_link(page, site, time.monotonic() + LEAD_SECONDS + 30)
        page.goto(site.url + run_url)
        page.wait_for_function("document.querySelector('#connection').textContent === 'live'")
        page_id = page.evaluate(WATCH_STATES)
        assert page.inner_text("#started") == (
            f"Started by its schedule, for the fire time {local:%a %Y-%m-%d %H:%M:%S} CET "
            f"({fire_at:%Y-%m-%d %H:%M:%S} UTC)."
        )

        # Watch it, without a reload, until it has ended: drill 2 waits out the pause, runs,
        # passes; the day passes with the combined result.
        page.wait_for_selector("#gameday-run-state[data-state='passed']", timeout=60_000)
        assert page.evaluate("window.gamedayPageId") == page_id  # the same page all along
        states = page.evaluate("window.drillStates")
        assert states["2"][0] == "not-started" and states["2"][-1] == "passed", states
        assert RUNNING & set(states["2"]), states  # it was seen running
        assert states["1"][-1] == "passed", states
        assert page.locator("tr[data-drill] .drill-state").all_inner_texts() == ["passed", "passed"]
        assert "every drill passed" in page.inner_text("#result-summary")
        assert page.inner_text("#first-breach") == "First breach: No SLA was breached."
        assert page.is_hidden("#stop-form")
        reason = page.inner_text("#gameday-reason")

        # The server goes away and comes back: the page reconnects and fetches its state
        # again, so what changed meanwhile shows up without a reload.
        site.stop_web()
        page.wait_for_function(
            "document.querySelector('#connection').textContent.startsWith('disconnected')"
        )
        site.python(WRITE_BEHIND_ITS_BACK)
        site.start_web()
        page.wait_for_selector("#action-item-list li:has-text('Written while the page was away')")
        page.wait_for_function("document.querySelector('#connection').textContent === 'live'")
        assert page.evaluate("window.gamedayPageId") == page_id

        # A drill's link opens its own live page.
        page.click("tr[data-drill='1'] a.drill-link")
        page.wait_for_url("**/runs/*/")
        assert "wait-a" in page.inner_text("h1")
        page.wait_for_function("document.querySelector('#run-state').textContent === 'passed'")
        page.go_back()
        page.wait_for_selector("#gameday-run-state[data-state='passed']")

        # Write down what was seen: an observation of drill 1 and an action item.
        form = page.locator("#observe-1")
        form.locator("input[name=verdict][value=passed]").check()
        form.locator("input[name=detected]").check()
        form.locator("input[name=detected_at]").fill("2026-12-01T10:02")
        form.locator("textarea[name=notes]").fill("The dashboard showed both waits.")
        with page.expect_navigation():
            form.locator(".observe-button").click()
        assert "Recorded the observation of drill 1." in page.inner_text(".messages")
        shown = page.inner_text("#observation-1")
        assert "observed passed" in shown and "The dashboard showed both waits." in shown
        assert f"Incident detected at 2026-12-01 10:02 ({ZONE}); not mitigated." in shown
        page.fill("#action-item-text", "Make the waits longer next time")
        page.select_option("#action-item-owner", label="olive")
        with page.expect_navigation():
            page.click("#action-item-button")
        item = page.locator("#action-item-list li", has_text="Make the waits longer next time")
        assert item.get_attribute("data-done") == "false" and "— olive" in item.inner_text()
        assert page.errors == []  # type: ignore[attr-defined]

    stored = json.loads(site.python(STORED))
    assert stored == {
        "state": "passed",
        "source": "schedule",
        "fire_time": fire_at.isoformat(),
        "drills": ["passed", "passed"],
        "verdict": "passed",
        "position": 0,
        "detected": True,
        "detected_at": "2026-12-01T09:02:00+00:00",
        "notes": "The dashboard showed both waits.",
        "author": "olive",
        "item": "Make the waits longer next time",
        "owner": "olive",
        "done": False,
    }
    assert reason == "every drill passed (2 of 2)"
