"""The game day editor: the playbook editor's page with the game day's parser, schema and
schedule preview; new game days go to a team, saves make versions, history diffs them."""

from __future__ import annotations

import re

from django.contrib.auth.models import Group
from django.test import Client

from drills.web.models import AuditEntry, GameDay, Membership, Playbook
from drills.web.roles import Role
from tests.web.gameday_scene import TEAM_DAY, GameDayScene
from tests.web.personas import World, person

NEW = TEAM_DAY.replace("name: team-day", "name: new-day")
MISSPELT = NEW.replace("  goal: Checkout", "  gaol: Checkout")


def problems(html: str) -> list[tuple[int, int, str]]:
    block = re.search(r'<ul id="problems"[^>]*>(.*?)</ul>', html, re.S)
    assert block, "no #problems list"
    return [
        (int(line), int(col), re.sub(r"\s+", " ", msg).strip())
        for line, col, msg in re.findall(
            r'data-line="(\d+)" data-column="(\d+)">.*?class="problem-message">(.*?)</span>',
            block.group(1),
            re.S,
        )
    ]


def validate(client: Client, content: str, name: str | None = None) -> dict:  # type: ignore[type-arg]
    body = {"content": content, "filename": "x.yaml", "playbook": name}
    response = client.post("/api/gamedays/validate", body, content_type="application/json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_the_new_page_is_the_editor_with_the_game_day_schema_and_validation(
    client: Client, world: World
) -> None:
    client.force_login(world.author)
    html = client.get("/gamedays/new/").content.decode()
    assert '<h1 id="editor-title">New game day</h1>' in html
    assert "kind: GameDay" in html and 'id="editor-source"' in html
    assert '"validateUrl": "/api/gamedays/validate"' in html
    assert '"schemaUrl": "/schema/gameday.json"' in html and '"kind": "gameday"' in html
    assert "vendor/editor.bundle.js" in html
    # The examples of game days are offered; playbooks are not (and the other way round).
    assert 'data-template="gameday"' in html and 'data-template="latency"' not in html
    playbook_editor = client.get("/playbooks/new/").content.decode()
    assert 'data-template="gameday"' not in playbook_editor
    assert 'data-template="latency"' in playbook_editor


def test_a_template_fills_the_editor(client: Client, world: World) -> None:
    client.force_login(world.author)
    html = client.get("/gamedays/new/?template=gameday").content.decode()
    assert "name: lab-tuesday" in html


def test_saving_a_new_game_day_puts_it_in_the_team_and_audits_it(
    client: Client, world: World
) -> None:
    client.force_login(world.author)
    response = client.post("/gamedays/new/", {"content": NEW, "message": "first cut"})
    assert response.status_code == 302 and response["Location"] == "/gamedays/new-day/"
    day = GameDay.objects.get(name="new-day")
    assert (day.team, day.owner) == (world.team, world.author)
    version = day.latest_version()
    assert version is not None and (version.number, version.message) == (1, "first cut")
    entry = AuditEntry.objects.get(action="gameday_save", object_id="new-day")
    assert (
        entry.actor_name == "arthur"
        and entry.summary == "created game day new-day as v1: “first cut”"
    )


def test_a_misspelt_key_is_shown_at_its_line_and_column_and_nothing_is_stored(
    client: Client, world: World
) -> None:
    client.force_login(world.author)
    response = client.post("/gamedays/new/", {"content": MISSPELT, "message": "x"})
    assert response.status_code == 400
    found = problems(response.content.decode())
    line = MISSPELT.splitlines().index("  gaol: Checkout survives losing its database host") + 1
    assert any(p[0] == line and p[1] == 3 and "gaol" in p[2] for p in found), found
    assert not GameDay.objects.filter(name="new-day").exists()


def test_reserved_and_taken_names_are_refused(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.author)
    for name, said in (("runs", "&#x27;runs&#x27; is reserved"), ("team-day", "already exists")):
        text = NEW.replace("name: new-day", f"name: {name}")
        response = client.post("/gamedays/new/", {"content": text, "message": "x"})
        assert response.status_code == 400 and said in response.content.decode(), name
    assert set(GameDay.objects.values_list("name", flat=True)) == {"team-day", "idle-day"}


def test_a_person_in_two_teams_names_the_team_or_is_told_to(client: Client, world: World) -> None:
    other = Group.objects.create(name="other-team")
    two = person("tess", world.team, Role.AUTHOR)
    Membership.objects.create(user=two, team=other, role=Role.AUTHOR)
    client.force_login(two)
    text = NEW.replace("  owner: platform-team\n", "")
    refused = client.post("/gamedays/new/", {"content": text, "message": "x"})
    assert refused.status_code == 400
    assert "You may add game days to several teams" in refused.content.decode()
    client.post("/gamedays/new/", {"content": text, "message": "x", "team": "other-team"})
    assert GameDay.objects.get(name="new-day").team == other


def test_editing_saves_the_next_version_and_keeps_the_name(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.author)
    html = client.get("/gamedays/team-day/edit/").content.decode()
    assert 'Edit <a href="/gamedays/team-day/">team-day</a>' in html
    assert 'href="/gamedays/team-day/versions/" id="history-link"' in html
    latest = gd.gameday.latest_version()
    assert latest is not None
    edited = latest.content.replace("pause: 15m", "pause: 5m")
    response = client.post("/gamedays/team-day/edit/", {"content": edited, "message": "shorter"})
    assert response.status_code == 302
    assert gd.gameday.latest_version().number == 3  # type: ignore[union-attr]
    renamed = edited.replace("name: team-day", "name: other-day")
    response = client.post("/gamedays/team-day/edit/", {"content": renamed, "message": "x"})
    assert response.status_code == 400
    assert (
        "metadata.name is &#x27;other-day&#x27; but this is game day" in response.content.decode()
    )
    assert gd.gameday.latest_version().number == 3  # type: ignore[union-attr]


def test_a_viewer_may_not_edit_and_an_outsider_does_not_see_it(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.viewer)
    refused = client.post("/gamedays/team-day/edit/", {"content": TEAM_DAY, "message": "x"})
    assert refused.status_code == 403
    assert "To edit game days of team platform-team you need the author role" in (
        refused.content.decode()
    )
    client.force_login(world.outsider)
    assert client.get("/gamedays/team-day/edit/").status_code == 404
    new = client.get("/gamedays/new/")
    assert new.status_code == 403
    assert "To edit game days you need the author role in a team" in new.content.decode()


def test_validate_answers_with_line_and_column_for_a_game_day(client: Client, world: World) -> None:
    client.force_login(world.outsider)  # checking a text needs no role
    answer = validate(client, MISSPELT)
    assert answer["ok"] is False
    [issue] = [i for i in answer["issues"] if "gaol" in i["message"]]
    line = MISSPELT.splitlines().index("  gaol: Checkout survives losing its database host") + 1
    assert (issue["line"], issue["column"]) == (line, 3)


def test_validate_gives_the_schedule_in_sentences_and_the_next_five_fire_times(
    client: Client, world: World
) -> None:
    client.force_login(world.author)
    answer = validate(client, NEW)
    assert answer["ok"] is True and answer["issues"] == []
    assert (
        answer["schedule"][0] == "Runs at the times of cron “0 10 * * tue”, read in Europe/Berlin."
    )
    assert len(answer["fire_times"]) == 5
    first = answer["fire_times"][0]
    assert first["local"].startswith("Tue ") and first["local"].endswith(("CET", "CEST"))
    assert first["utc"].endswith("UTC") and first["said"] in (
        "runs",
        "skipped: 2026-12-29 is a blackout date",
    )
    assert answer["policy"][1] == "Each drill starts 15 min after the previous one ended."


def test_validate_warns_of_a_missing_playbook_but_names_only_what_one_may_see(
    client: Client, world: World
) -> None:
    hidden_team = Group.objects.create(name="hidden-team")
    Playbook.objects.create(name="not-written-yet", team=hidden_team).save_version("# x\n")
    client.force_login(world.author)
    warnings = validate(client, NEW)["warnings"]
    # Both read the same: it does not exist, or the person may not see it.
    assert warnings == [
        "There is no playbook not-written-yet that you may see; if none exists, the game day "
        "ends in error when it comes to this drill."
    ]
    text = NEW.replace("version: 1}", "version: 7}")
    warnings = validate(client, text)["warnings"]
    assert warnings[0] == (
        "Playbook checkout-partition has no version 7 (it has v1 to v1): the game day ends in "
        "error when it comes to this drill."
    )


def test_validate_says_the_name_must_stay_when_editing(client: Client, world: World) -> None:
    client.force_login(world.author)
    answer = validate(client, NEW, name="team-day")
    assert answer["ok"] is False
    assert "but this is game day 'team-day'" in answer["issues"][0]["message"]


def test_the_schema_is_the_committed_game_day_schema(client: Client) -> None:
    response = client.get("/schema/gameday.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/schema+json"
    assert response.json()["$id"] == "urn:drillhall:schema:gameday:v1"


def test_history_lists_versions_and_diffs_two_without_restore(
    client: Client, world: World, gd: GameDayScene
) -> None:
    client.force_login(world.viewer)
    html = client.get("/gamedays/team-day/versions/").content.decode()
    assert re.findall(r'data-version="(\d+)"', html) == ["2", "1"]
    assert 'action="/gamedays/team-day/diff/"' in html and "Restore" not in html
    assert (
        client.get("/gamedays/team-day/diff/?a=1&b=2")["Location"] == "/gamedays/team-day/diff/1/2/"
    )
    diff = client.get("/gamedays/team-day/diff/1/2/").content.decode()
    assert "team-day: v1 → v2" in diff and "2 lines added, 0 removed" in diff
    assert '<a href="/gamedays/team-day/versions/">History</a>' in diff
    assert client.get("/gamedays/team-day/diff/1/9/").status_code == 404


def test_the_playbook_history_still_offers_restore(client: Client, world: World) -> None:
    world.playbook.save_version(world.version.content + "\n# v2\n", author=world.owner)
    client.force_login(world.author)
    html = client.get("/playbooks/checkout-partition/versions/").content.decode()
    assert (
        'id="restore-1-button"' in html and 'action="/playbooks/checkout-partition/diff/"' in html
    )
