"""`manage.py grant USER ROLE [TEAM]`: roles from the command line."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command

from drills.web.models import Membership
from drills.web.roles import Action, Role, can, is_admin
from tests.web.personas import World


def grant(*args: str) -> str:
    out = StringIO()
    call_command("grant", *args, stdout=out)
    return out.getvalue()


def test_it_gives_and_takes_back_a_team_role(world: World) -> None:
    assert grant("otto", "operator", "platform-team") == "otto is operator in platform-team\n"
    assert can(world.outsider, Action.RUN, world.playbook)
    grant("otto", "operator", "platform-team", "--revoke")
    assert not Membership.objects.filter(user=world.outsider).exists()


def test_admin_is_the_admins_group_not_a_team_role(world: World) -> None:
    assert grant("otto", "admin") == "otto is an admin\n"
    assert is_admin(User.objects.get(username="otto"))
    with pytest.raises(CommandError, match="admin is not a team role"):
        grant("otto", "admin", "platform-team")
    grant("otto", "admin", "--revoke")
    assert not is_admin(User.objects.get(username="otto"))


def test_unknown_names_are_refused_unless_created(world: World) -> None:
    with pytest.raises(CommandError, match="there is no user ci; add --create"):
        grant("ci", "operator", "platform-team")
    with pytest.raises(CommandError, match="there is no team payments; add --create"):
        grant("otto", "viewer", "payments")
    out = grant("ci", "operator", "payments", "--create")
    assert "created user ci" in out and "created team payments" in out
    ci = User.objects.get(username="ci")
    assert not ci.has_usable_password()
    assert Membership.objects.get(user=ci).team == Group.objects.get(name="payments")
    assert Membership.objects.get(user=ci).role == Role.OPERATOR


def test_a_team_role_needs_a_team(world: World) -> None:
    with pytest.raises(CommandError, match="viewer is held in a team"):
        grant("otto", "viewer")
