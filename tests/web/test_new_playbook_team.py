"""Where a new playbook goes: a team where its author is an author (drills.web.access.home_team)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from drills.web.models import Membership, Playbook
from drills.web.roles import Role
from tests.web.personas import PLAYBOOK_YAML, World

NEW = reverse("playbook-new")


def text(owner: str | None) -> str:
    content = PLAYBOOK_YAML.read_text().replace("name: checkout-partition", "name: fresh-drill")
    line = "  owner: platform-team\n"
    assert line in content
    return content.replace(line, f"  owner: {owner}\n" if owner else "")


def create(client: Client, owner: str | None, team: str = "") -> tuple[int, str]:
    data = {"content": text(owner), "message": "new"}
    if team:
        data["team"] = team
    response = client.post(NEW, data)
    return response.status_code, response.content.decode()


@pytest.fixture
def payments(world: World) -> Group:
    return Group.objects.create(name="payments")


def test_metadata_owner_picks_the_team_where_the_author_is_an_author(
    client: Client, world: World, payments: Group
) -> None:
    Membership.objects.create(user=world.author, team=payments, role=Role.AUTHOR)
    client.force_login(world.author)
    assert create(client, "payments")[0] == 302
    assert Playbook.objects.get(name="fresh-drill").team == payments


def test_an_author_of_one_team_gets_it_whatever_metadata_owner_says(
    client: Client, world: World
) -> None:
    client.force_login(world.author)
    assert create(client, "someone-else")[0] == 302
    assert Playbook.objects.get(name="fresh-drill").team == world.team


def test_an_author_of_two_teams_chooses_or_is_told_to(
    client: Client, world: World, payments: Group
) -> None:
    Membership.objects.create(user=world.author, team=payments, role=Role.AUTHOR)
    client.force_login(world.author)
    page = client.get(NEW).content.decode()
    assert 'id="save-team"' in page and ">payments<" in page and ">platform-team<" in page
    status, page = create(client, None)
    assert status == 400
    assert (
        "several teams; set metadata.owner to one of your teams (payments, platform-team)" in page
    )
    assert not Playbook.objects.filter(name="fresh-drill").exists()
    assert create(client, None, team="payments")[0] == 302
    assert Playbook.objects.get(name="fresh-drill").team == payments


def test_a_team_where_the_author_only_views_is_refused(
    client: Client, world: World, payments: Group
) -> None:
    Membership.objects.create(user=world.author, team=payments, role=Role.VIEWER)
    client.force_login(world.author)
    status, page = create(client, None, team="payments")
    assert status == 400
    assert "You may not add playbooks to team payments" in page
    assert not Playbook.objects.filter(name="fresh-drill").exists()


def test_without_the_author_role_the_editor_is_refused_with_the_reason(
    client: Client, world: World
) -> None:
    for user in (world.viewer, world.operator, world.approver, world.outsider):
        client.force_login(user)
        response = client.get(NEW)
        assert response.status_code == 403
        assert "need the author role in a team" in response.content.decode()
        assert create(client, "platform-team")[0] == 403
    assert not Playbook.objects.filter(name="fresh-drill").exists()


def test_an_admin_may_leave_a_playbook_without_a_team(client: Client, world: World) -> None:
    client.force_login(world.admin)
    assert "no team (admins only)" in client.get(NEW).content.decode()
    assert create(client, None)[0] == 302
    playbook = Playbook.objects.get(name="fresh-drill")
    assert playbook.team is None
    # Nobody but its owner (the admin) and other admins sees it.
    client.force_login(world.member)
    assert client.get(reverse("playbook-detail", args=["fresh-drill"])).status_code == 404
