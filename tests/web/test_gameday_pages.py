"""The game day list and page: what the document says in sentences, the next fire times in the
schedule's zone and UTC, what the schedule did, the runs; Start now, Pause and Resume."""

from __future__ import annotations

import datetime as dt

import time_machine
from django.test import Client
from django.utils import timezone

from drills.web.models import AuditEntry, FireRecord, GameDay, GameDayRun
from tests.web.gameday_scene import GameDayScene
from tests.web.personas import World

# Monday 28 December 2026, noon in Berlin: the next Tuesday is a blackout date.
MONDAY = dt.datetime(2026, 12, 28, 11, 0, tzinfo=dt.UTC)


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_list_shows_goal_next_fire_time_in_its_zone_and_utc_and_the_last_run(
    client: Client, world: World, gd: GameDayScene
) -> None:
    with time_machine.travel(MONDAY, tick=False):
        client.force_login(world.viewer)  # inside: a session from weeks before has expired
        html = page(client, "/gamedays/")
    assert 'data-gameday="team-day"' in html
    assert "Checkout survives losing its database host" in html
    # 29 December is a blackout date: the next one that runs is 5 January, 10:00 in Berlin.
    assert "Tue 2027-01-05 10:00 CET" in html and "(2027-01-05 09:00 UTC)" in html
    assert f'href="/gamedays/runs/{gd.run.id}/"' in html and "state-running" in html


def test_the_list_says_paused_and_not_scheduled(client: Client, world: World) -> None:
    paused = GameDay.objects.create(name="paused-day", team=world.team, paused=True)
    paused.save_version(
        "apiVersion: drillhall/v1\nkind: GameDay\nmetadata: {name: paused-day, goal: g}\n"
        "drills: [{playbook: checkout-partition}]\n"
        "schedule: {timezone: UTC, cron: '0 10 * * *'}\n"
    )
    by_hand = GameDay.objects.create(name="by-hand", team=world.team)
    by_hand.save_version(
        "apiVersion: drillhall/v1\nkind: GameDay\nmetadata: {name: by-hand, goal: g}\n"
        "drills: [{playbook: checkout-partition}]\n"
    )
    client.force_login(world.viewer)
    html = page(client, "/gamedays/")
    assert "paused</span>" in html and "not scheduled</span>" in html
    assert "never run" in html


def test_the_list_shows_only_the_game_days_of_ones_teams(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.outsider)
    html = page(client, "/gamedays/")
    assert "team-day" not in html and 'id="no-gamedays"' in html
    assert 'id="new-gameday-link"' not in html


def test_the_nav_links_to_game_days(client: Client, world: World) -> None:
    client.force_login(world.viewer)
    assert 'href="/gamedays/" id="gamedays-link">Game days</a>' in page(client, "/")


def test_the_page_says_the_document_in_sentences(
    client: Client, world: World, gd: GameDayScene
) -> None:
    with time_machine.travel(MONDAY, tick=False):
        client.force_login(world.viewer)  # inside: a session from weeks before has expired
        html = page(client, "/gamedays/team-day/")
    assert "Checkout survives losing its database host" in html
    assert "The team&#x27;s own drill, then one nobody wrote yet." in html
    assert '<tr data-user="olive"><td>olive</td><td>owner</td></tr>' in html
    assert '<tr data-user="max"><td>max</td><td>coordinator</td></tr>' in html
    # The drills in order: the team's playbook (linked, pinned) and one that does not exist.
    assert '<a href="/playbooks/checkout-partition/">checkout-partition</a>' in html
    assert '<span class="muted">v1</span>' in html and '<span class="muted">latest</span>' in html
    assert (
        "There is no playbook not-written-yet that you may see; if none exists, the game day "
        "ends in error when it comes to this drill."
    ) in html
    assert "A drill that does not pass does not stop the game day: the next one starts." in html
    assert "Each drill starts 15 min after the previous one ended." in html
    assert "Runs at the times of cron “0 10 * * tue”, read in Europe/Berlin." in html
    assert "Only between 09:00 and 17:00 on Monday, Tuesday, Wednesday, Thursday and Friday" in html
    assert "Never on the blackout date 2026-12-29." in html
    assert "caught up once, when found within 15 min of it" in html
    sentences = html.split('id="gameday-yaml"')[0]  # the page above the document itself
    assert "{'" not in sentences and "Decision(" not in sentences and "None" not in sentences


def test_the_preview_lists_five_fire_times_and_says_why_one_is_skipped(
    client: Client, world: World, gd: GameDayScene
) -> None:
    with time_machine.travel(MONDAY, tick=False):
        client.force_login(world.viewer)  # inside: a session from weeks before has expired
        html = page(client, "/gamedays/team-day/")
    preview = html.split('id="preview"')[1].split("</table>")[0]
    assert preview.count("<tr data-outcome=") == 5
    assert (
        '<tr data-outcome="skipped"><td>Tue 2026-12-29 10:00 CET</td><td>2026-12-29 09:00 UTC'
        "</td><td>skipped: 2026-12-29 is a blackout date</td></tr>"
    ) in preview
    assert preview.count('data-outcome="runs"') == 4
    assert "<td>Tue 2027-01-05 10:00 CET</td><td>2027-01-05 09:00 UTC</td><td>runs</td>" in preview


def test_the_page_shows_what_the_schedule_did_with_its_reasons(
    client: Client, world: World, gd: GameDayScene
) -> None:
    FireRecord.objects.create(
        gameday=gd.gameday,
        fire_time=dt.datetime(2026, 12, 29, 9, 0, tzinfo=dt.UTC),
        outcome="skipped",
        reason="2026-12-29 is a blackout date",
    )
    FireRecord.objects.create(
        gameday=gd.gameday,
        fire_time=dt.datetime(2026, 12, 22, 9, 0, tzinfo=dt.UTC),
        outcome="run",
        reason="on time",
        run=gd.run,
    )
    client.force_login(world.viewer)
    html = page(client, "/gamedays/team-day/").split('id="fire-records"')[1]
    assert "<td>Tue 2026-12-29 10:00 CET</td><td>2026-12-29 09:00 UTC</td><td>skipped</td>" in html
    assert "<td>2026-12-29 is a blackout date</td>" in html
    assert "<td>ran</td><td>on time</td>" in html
    assert f'<a href="/gamedays/runs/{gd.run.id}/">#{gd.run.id}</a>' in html


def test_buttons_show_only_for_those_who_may_use_them(
    client: Client, world: World, gd: GameDayScene
) -> None:
    for persona, shown in (
        ("viewer", set()),
        ("author", {"edit"}),
        ("operator", {"start", "pause"}),
        ("admin", {"edit", "start", "pause"}),
    ):
        client.force_login(world.persona(persona))
        html = page(client, "/gamedays/team-day/")
        present = {
            name
            for name, marker in (
                ("edit", 'id="edit-link"'),
                ("start", 'id="start-button"'),
                ("pause", 'id="pause-button"'),
            )
            if marker in html
        }
        assert present == shown, persona


def test_an_outsider_gets_404_for_the_page_and_every_action(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.outsider)
    assert client.get("/gamedays/team-day/").status_code == 404
    for action in ("start", "pause", "resume"):
        assert client.post(f"/gamedays/team-day/{action}").status_code == 404
    assert client.get("/gamedays/nope/").status_code == 404


def test_start_now_starts_a_run_once_the_last_one_ended_and_opens_its_live_page(
    client: Client, world: World, gd: GameDayScene, private_queue: str
) -> None:
    client.force_login(world.operator)
    refused = client.post("/gamedays/team-day/start", follow=True)
    assert (
        f"Not started: run {gd.run.id} of game day team-day still runs, and its concurrency is "
        "forbid: stop it or wait for it to end." in refused.content.decode()
    )
    assert GameDayRun.objects.count() == 1
    GameDayRun.objects.filter(id=gd.run.id).update(state="passed", finished_at=timezone.now())
    response = client.post("/gamedays/team-day/start")
    run = GameDayRun.objects.exclude(id=gd.run.id).get()
    assert response.status_code == 302 and response["Location"] == f"/gamedays/runs/{run.id}/"
    assert (run.started_by, run.source, run.version.number) == (world.operator, "web", 2)
    entry = AuditEntry.objects.get(action="gameday_start", object_id=str(run.id))
    assert entry.actor_name == "opal" and "from its page" in entry.summary


def test_a_viewer_may_not_start_and_is_told_which_role_it_needs(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.viewer)
    response = client.post("/gamedays/team-day/start")
    assert response.status_code == 403
    assert (
        "To start, stop or pause game days of team platform-team you need the operator role "
        "in platform-team (you are viewer there)"
    ) in response.content.decode()
    assert GameDayRun.objects.count() == 1


def test_a_game_day_without_a_valid_version_is_not_started_and_says_why(
    client: Client, world: World
) -> None:
    GameDay.objects.create(name="empty-day", team=world.team)
    client.force_login(world.operator)
    response = client.post("/gamedays/empty-day/start", follow=True)
    assert "Not started: game day empty-day has no saved version." in response.content.decode()
    assert GameDayRun.objects.count() == 0


def test_pause_and_resume_change_the_flag_once_each_and_are_audited(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.operator)
    client.post("/gamedays/team-day/pause")
    again = client.post("/gamedays/team-day/pause", follow=True).content.decode()
    assert GameDay.objects.get(name="team-day").paused is True
    assert "The schedule was already paused." in again
    assert 'id="resume-button"' in again and 'id="paused"' in again
    client.post("/gamedays/team-day/resume")
    assert GameDay.objects.get(name="team-day").paused is False
    entries = AuditEntry.objects.filter(action="gameday_schedule").order_by("id")
    assert [e.summary for e in entries] == [
        "paused the schedule of game day team-day",
        "resumed the schedule of game day team-day",
    ]
    assert {e.actor_name for e in entries} == {"opal"}


def test_runs_are_listed_with_their_state_and_reason(
    client: Client, world: World, gd: GameDayScene
) -> None:
    GameDayRun.objects.filter(id=gd.run.id).update(
        state="failed", reason="drill 1 (checkout-partition) failed", finished_at=timezone.now()
    )
    client.force_login(world.viewer)
    html = page(client, "/gamedays/team-day/").split('id="run-table"')[1]
    assert f'data-run="{gd.run.id}"' in html
    assert '<span class="badge state-failed">failed</span>' in html
    assert "drill 1 (checkout-partition) failed" in html and "by opal" in html


def test_the_owner_of_a_game_day_without_a_team_reads_and_edits_it_but_may_not_start_it(
    client: Client, world: World
) -> None:
    mine = GameDay.objects.create(name="otto-day", owner=world.outsider)
    mine.save_version(
        "apiVersion: drillhall/v1\nkind: GameDay\nmetadata: {name: otto-day, goal: g}\n"
        "drills: [{playbook: checkout-partition}]\n"
    )
    client.force_login(world.outsider)
    html = page(client, "/gamedays/otto-day/")
    assert 'id="edit-link"' in html and 'id="start-button"' not in html
    # The team's playbook is not his to see: named, not linked, and not confirmed to exist.
    assert "There is no playbook checkout-partition that you may see" in html
    assert client.get("/gamedays/otto-day/edit/").status_code == 200
    refused = client.post("/gamedays/otto-day/start")
    assert refused.status_code == 403
    assert (
        "Game day otto-day belongs to no team, so only admins may start, stop or pause game "
        "days with it"
    ) in refused.content.decode()
    client.force_login(world.viewer)
    assert client.get("/gamedays/otto-day/").status_code == 404
