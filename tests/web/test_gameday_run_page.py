"""A game-day run's live page: each drill's state and link, the reason of the day, the combined
result; Stop; observations per drill and action items, who may record them, and their audit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from drills.web.models import ActionItem, AuditEntry, DrillRun, GameDayRun, Observation
from tests.web.gameday_scene import TEAM_DAY, GameDayScene
from tests.web.personas import World, make_run

UTC = dt.UTC


@pytest.fixture(autouse=True)
def quiet_queue(private_queue: str) -> str:
    """Stopping hands a look to the broker: to a queue no worker reads."""
    return private_queue


def url(gd: GameDayScene, suffix: str = "") -> str:
    return f"/gamedays/runs/{gd.run.id}/{suffix}"


def html_of(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def row(html: str, number: int) -> str:
    return html.split(f'<tr data-drill="{number}"')[1].split("</tr>")[0]


def test_the_live_page_shows_each_drill_its_state_and_a_link_to_its_own_page(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.viewer)
    html = html_of(client, url(gd))
    first, second = row(html, 1), row(html, 2)
    assert 'data-state="observing"' in first and "running: observing" in first
    assert (
        f'<a class="drill-link" href="/runs/{gd.drill.id}/">live page of run #{gd.drill.id}</a>'
        in first
    )
    assert 'data-state="not-started"' in second and "not started" in second
    assert "not-written-yet" in second and "drill-link" not in second
    assert 'id="gameday-reason" class="reason">Drill 1 (checkout-partition) runs.</span>' in html
    assert f'data-ws-path="/ws/gamedays/runs/{gd.run.id}/"' in html
    assert f'data-state-url="/gamedays/runs/{gd.run.id}/state"' in html
    assert "drillhall/gameday.js" in html
    assert '<span id="started">Started by opal from its page at ' in html
    # A viewer watches: no Stop, no forms.
    assert 'id="stop-button"' not in html and 'id="observations"' not in html


def test_the_fragment_is_the_changing_part_and_is_never_cached(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.viewer)
    response = client.get(url(gd, "state"))
    assert response["Cache-Control"] == "no-store"
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<div id="gameday-run-state" data-state="running"')
    assert "running: observing" in fragment and "<html" not in fragment
    assert "Alert on checkout errors" in fragment and "— max" in fragment


def test_an_operator_gets_stop_and_a_form_per_drill_enabled_once_it_started(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.operator)
    html = html_of(client, url(gd))
    assert 'id="stop-button"' in html
    first = html.split('id="observe-1"')[1].split("</form>")[0]
    second = html.split('id="observe-2"')[1].split("</form>")[0]
    assert "<fieldset>" in first and "<fieldset disabled>" in second and "not started yet" in second
    assert "Times are in Europe/Berlin." in html
    owners = html.split('id="action-item-owner"')[1].split("</select>")[0]
    names = [
        n
        for n in ("olive", "max", "vera", "arthur", "opal", "april", "otto", "ada")
        if f">{n}<" in owners
    ]
    assert names == ["olive", "max", "vera", "arthur", "opal", "april"]  # the team, not otto or ada


def finish(gd: GameDayScene) -> None:
    """End the drill and the day as the orchestrator and gameday_runs would."""
    result = {
        "state": "failed",
        "reason": "checkout recovers breached",
        "verdicts": {"checkout recovers": "breached"},
        "rto": 42.0,
        "rto_objective": 30.0,
        "rpo": {
            "acknowledged": 120,
            "lost": 3,
            "span_seconds": 0.4,
            "first_lost_at": 1.0,
            "error": None,
        },
    }
    DrillRun.objects.filter(id=gd.drill.id).update(
        state="failed", result=result, finished_at=timezone.now()
    )
    breach = {"sla": "checkout recovers", "reason": "error rate 40% > 10%", "t": 1796212800.0}
    combined = {
        "state": "failed",
        "reason": "drill 1 (checkout-partition) failed",
        "drills": [
            {"position": 1, "playbook": "checkout-partition", "version": 1, "run": gd.drill.id,
             "state": "failed", "reason": result["reason"], "rto": 42.0, "rto_objective": 30.0,
             "rpo": result["rpo"], "first_breach": breach},
            {"position": 2, "playbook": "not-written-yet", "state": None},
        ],
        "first_breach": {"position": 1, "playbook": "checkout-partition", **breach},
    }  # fmt: skip
    GameDayRun.objects.filter(id=gd.run.id).update(
        state="failed", result=combined, reason=combined["reason"], finished_at=timezone.now()
    )


def test_a_finished_run_shows_the_combined_result_against_objectives(
    client: Client, world: World, gd: GameDayScene
) -> None:
    finish(gd)
    client.force_login(world.operator)
    html = html_of(client, url(gd))
    first = row(html, 1)
    assert "failed</span>" in first
    assert '<td class="drill-rto">42.0 s, objective 30 s: missed</td>' in first
    assert '<td class="drill-rpo">3 of 120 acknowledged writes lost (no objective)</td>' in first
    assert "SLA “checkout recovers” breached: error rate 40% &gt; 10% at 12:00:00 UTC" in first
    assert 'id="combined-result"' in html
    assert (
        '<p id="first-breach">First breach: Drill 1 (checkout-partition): SLA “checkout recovers” '
        "breached: error rate 40% &gt; 10% at 12:00:00 UTC</p>"
    ) in html
    assert "drill 1 (checkout-partition) failed" in html
    assert 'id="stop-button"' not in html  # it has ended
    assert 'id="observations"' in html  # ... and may still be written about
    for said in ("{'", "None", "[{"):
        assert said not in html.split("<main")[1], said


def test_stop_asks_once_and_is_audited(client: Client, world: World, gd: GameDayScene) -> None:
    client.force_login(world.operator)
    response = client.post(url(gd, "stop"), follow=True)
    assert (
        "Stop requested: the drill that runs is aborted, no other starts."
        in response.content.decode()
    )
    run = GameDayRun.objects.get(id=gd.run.id)
    assert run.stop_requested_at is not None and run.stop_reason == "stopped by opal from its page"
    assert "Stop requested: stopped by opal from its page." in response.content.decode()
    again = client.post(url(gd, "stop"), follow=True).content.decode()
    assert "A stop was already requested." in again
    assert AuditEntry.objects.filter(action="gameday_stop").count() == 1


def test_a_viewer_may_not_stop(client: Client, world: World, gd: GameDayScene) -> None:
    client.force_login(world.viewer)
    response = client.post(url(gd, "stop"))
    assert response.status_code == 403
    assert GameDayRun.objects.get(id=gd.run.id).stop_requested_at is None


def observe(client: Client, gd: GameDayScene, **fields: str) -> str:
    data = {"drill": "1", "verdict": "failed", **fields}
    return client.post(url(gd, "observations"), data, follow=True).content.decode()


def test_an_observation_is_stored_in_the_pages_zone_audited_and_shown(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.operator)
    html = observe(
        client,
        gd,
        detected="yes",
        detected_at="2026-12-01T10:02",
        mitigated="yes",
        mitigated_at="2026-12-01T10:20",
        notes="Pager fired after two minutes.\r\nFailover by hand.",
    )
    seen = Observation.objects.get(drill_run=gd.drill)
    assert (seen.verdict, seen.author, seen.run) == ("failed", world.operator, gd.run)
    # 10:02 in Berlin in December is 09:02 UTC.
    assert seen.detected_at == dt.datetime(2026, 12, 1, 9, 2, tzinfo=UTC)
    assert seen.notes == "Pager fired after two minutes.\nFailover by hand."
    assert "Recorded the observation of drill 1." in html
    shown = html.split('id="observation-1"')[1].split("</div>")[0]
    assert "observed failed" in shown
    assert (
        "Incident detected at 2026-12-01 10:02 (Europe/Berlin); mitigated at 2026-12-01 10:20 "
        "(Europe/Berlin)."
    ) in shown
    assert "Pager fired after two minutes.<br>Failover by hand." in shown
    # The form comes back filled with what is stored.
    form = html.split('id="observe-1"')[1].split("</form>")[0]
    assert 'value="failed" checked' in form and 'value="2026-12-01T10:02"' in form
    entry = AuditEntry.objects.get(action="observation")
    assert entry.actor_name == "opal" and entry.object_id == str(gd.run.id)
    assert entry.summary == (
        f"recorded the observation of drill 1 (checkout-partition) of game day run {gd.run.id}: "
        "failed; incident detected at 2026-12-01 09:02 UTC; incident mitigated at 2026-12-01 "
        "09:20 UTC"
    )


def test_saving_again_replaces_the_observation_and_is_a_second_entry(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.operator)
    observe(client, gd)
    observe(client, gd, verdict="unsure", notes="on second thought")
    seen = Observation.objects.get(drill_run=gd.drill)
    assert (seen.verdict, seen.notes, seen.detected) == ("unsure", "on second thought", False)
    summaries = list(
        AuditEntry.objects.filter(action="observation")
        .order_by("id")
        .values_list("summary", flat=True)
    )
    assert summaries[0].startswith("recorded the observation of drill 1")
    assert summaries[1].startswith("changed the observation of drill 1")
    assert summaries[1].endswith("unsure; incident not detected; incident not mitigated")


def test_a_drill_that_has_not_started_cannot_be_observed(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.operator)
    html = observe(client, gd, drill="2")
    assert "Not recorded: Drill 2 of this game day has not started" in html
    assert "Not recorded: this game day has no drill 3." in observe(client, gd, drill="3")
    bad = observe(client, gd, verdict="great")
    assert "Not recorded: choose passed, failed or unsure" in bad and "(in Europe/Berlin)" in bad
    assert "Not recorded" in observe(client, gd, detected_at="yesterday")
    assert "not ticked as happened" in observe(client, gd, detected_at="2026-12-01T10:00")
    assert Observation.objects.count() == 0 and not AuditEntry.objects.filter(action="observation")


def participant_run(world: World, gd: GameDayScene) -> GameDayRun:
    """A run of a version that names vera (a viewer) as its reporter."""
    text = TEAM_DAY.replace(
        "{user: max, position: coordinator}", "{user: vera, position: reporter}"
    )
    version = gd.gameday.save_version(text, world.owner)
    run = GameDayRun.objects.create(gameday=gd.gameday, version=version, state="running")
    drill = make_run(world.version, world.operator, state="baseline")
    DrillRun.objects.filter(id=drill.id).update(gameday_run=run, gameday_position=0)
    return run


def test_a_participant_with_any_role_may_record_and_others_are_told_who_may(
    client: Client, world: World, gd: GameDayScene
) -> None:
    run = participant_run(world, gd)
    client.force_login(world.viewer)
    page = client.get(f"/gamedays/runs/{run.id}/").content.decode()
    assert 'id="observations"' in page and 'id="stop-button"' not in page
    data = {"drill": "1", "verdict": "passed"}
    assert client.post(f"/gamedays/runs/{run.id}/observations", data).status_code == 302
    assert Observation.objects.get(run=run).author == world.viewer
    client.force_login(world.approver)  # in the team, not a participant
    refused = client.post(f"/gamedays/runs/{run.id}/observations", data)
    assert refused.status_code == 403
    said = refused.content.decode()
    assert (
        "To record observations and action items on game days of team platform-team you need "
        in said
    )
    assert "The participants its document names may record them too." in said
    # vera is a participant of this run's version only, not of the scene's run.
    client.force_login(world.viewer)
    assert client.post(url(gd, "observations"), data).status_code == 403


def test_an_outsider_sees_nothing_of_a_run(client: Client, world: World, gd: GameDayScene) -> None:
    client.force_login(world.outsider)
    for path in ("", "state"):
        assert client.get(url(gd, path)).status_code == 404
    for path in ("stop", "observations", "action-items", f"action-items/{gd.item.id}/done"):
        assert client.post(url(gd, path), {"drill": "1", "verdict": "passed"}).status_code == 404
    assert Observation.objects.count() == 0


def test_an_action_item_gets_an_owner_from_the_team_and_is_audited(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.operator)
    data = {"text": "  Page the database   team sooner ", "owner": str(world.viewer.id)}
    html = client.post(url(gd, "action-items"), data, follow=True).content.decode()
    item = ActionItem.objects.get(text="Page the database team sooner")
    assert (item.owner, item.created_by, item.done) == (world.viewer, world.operator, False)
    assert "Added an action item for vera." in html
    assert f'data-item="{item.id}" data-done="false"' in html
    entry = AuditEntry.objects.get(action="action_item")
    assert entry.summary == (
        f"added action item {item.id} of game day run {gd.run.id} for vera: Page the database "
        "team sooner"
    )
    for refused, said in (
        ({"text": "x", "owner": str(world.outsider.id)}, "needs an owner who holds a role"),
        ({"text": "x", "owner": ""}, "needs an owner who holds a role"),
        ({"text": "   ", "owner": str(world.viewer.id)}, "needs a text"),
    ):
        html = client.post(url(gd, "action-items"), refused, follow=True).content.decode()
        assert f"Not added: An action item {said}" in html
    assert ActionItem.objects.count() == 2


def test_an_owner_may_tick_their_own_item_and_ticking_twice_writes_once(
    client: Client, world: World, gd: GameDayScene
) -> None:
    mine = ActionItem.objects.create(run=gd.run, text="Write the runbook", owner=world.viewer)
    client.force_login(world.approver)  # neither its owner nor one who records
    assert client.post(url(gd, f"action-items/{mine.id}/done")).status_code == 403
    client.force_login(world.viewer)
    assert client.post(url(gd, f"action-items/{gd.item.id}/done")).status_code == 403  # max's
    client.post(url(gd, f"action-items/{mine.id}/done"), {"done": "yes"})
    client.post(url(gd, f"action-items/{mine.id}/done"), {"done": "yes"})
    mine.refresh_from_db()
    assert mine.done is True
    [entry] = AuditEntry.objects.filter(action="action_item")
    assert entry.summary == (
        f"marked action item {mine.id} of game day run {gd.run.id} done: Write the runbook"
    )
    client.post(url(gd, f"action-items/{mine.id}/done"), {"done": "no"})
    mine.refresh_from_db()
    assert mine.done is False
