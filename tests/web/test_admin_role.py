"""The admin site belongs to the admin role: the "drillhall admins" group, not the staff flag."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from drills.web.hosts import register_host
from drills.web.models import Host, Membership
from drills.web.roles import Role
from tests.web.personas import PASSWORD, World


def host_form(**fields: str) -> dict[str, str]:
    form = {
        "name": "db9", "address": "10.77.0.9", "agent_queue": "agent.db9", "netns": "",
        "labels": "{}", "services-TOTAL_FORMS": "0", "services-INITIAL_FORMS": "0",
        "services-MIN_NUM_FORMS": "0", "services-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    form.update(fields)
    return form


def test_an_admin_who_is_not_a_superuser_adds_and_protects_hosts(
    client: Client, world: World
) -> None:
    assert not world.admin.is_superuser and not world.admin.is_staff
    client.force_login(world.admin)
    response = client.post("/admin/drills/host/add/", host_form(protected="on"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Host.objects.get(name="db9").protected is True


def test_an_admin_gives_a_role_on_the_memberships_page(client: Client, world: World) -> None:
    client.force_login(world.admin)
    form = {"user": str(world.outsider.pk), "team": str(world.team.pk), "role": "operator"}
    assert client.post("/admin/drills/membership/add/", form).status_code == 302
    assert Membership.objects.filter(user=world.outsider, team=world.team, role=Role.OPERATOR)
    answer = client.get(
        "/admin/autocomplete/",
        {"app_label": "drills", "model_name": "membership", "field_name": "user", "term": "ott"},
    ).json()
    assert [r["text"] for r in answer["results"]] == ["otto"]


def test_the_staff_flag_alone_does_not_open_the_admin_site(client: Client, world: World) -> None:
    staff = User.objects.create_user("stan", password=PASSWORD, is_staff=True)
    client.force_login(staff)
    response = client.get("/admin/drills/host/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    register_host("db1", "10.77.0.3")
    client.post("/admin/drills/host/add/", host_form())
    assert not Host.objects.filter(name="db9").exists()


@pytest.mark.parametrize("name,lets_in", [("ada", True), ("stan", False), ("opal", False)])
def test_the_admin_sign_in_form_asks_for_the_admin_role(
    world: World, name: str, lets_in: bool
) -> None:
    User.objects.create_user("stan", password=PASSWORD, is_staff=True)
    client = Client()
    response = client.post("/admin/login/", {"username": name, "password": PASSWORD})
    assert (response.status_code == 302) == lets_in
    assert (client.get("/admin/").status_code == 200) == lets_in


def test_a_team_role_never_reaches_the_admin_site(client: Client, world: World) -> None:
    for user in (world.viewer, world.author, world.operator, world.approver, world.owner):
        client.force_login(user)
        assert client.get("/admin/").status_code == 302
