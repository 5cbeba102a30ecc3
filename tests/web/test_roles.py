"""The role rules themselves (drills.web.roles); the route-by-route matrix is elsewhere."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from drills.web.models import Membership, Playbook
from drills.web.roles import ADMIN_GROUP, Action, Role, can, teams_where

pytestmark = pytest.mark.django_db


def person(name: str, team: Group | None = None, *roles: Role) -> User:
    user = User.objects.create_user(name, password="x")
    for role in roles:
        Membership.objects.create(user=user, team=team, role=role)
    return user


@pytest.fixture
def team() -> Group:
    return Group.objects.create(name="platform-team")


@pytest.fixture
def playbook(team: Group) -> Playbook:
    return Playbook.objects.create(name="pb", team=team)


@pytest.mark.parametrize(
    "role,allowed",
    [
        (Role.VIEWER, {Action.VIEW}),
        (Role.AUTHOR, {Action.VIEW, Action.EDIT}),
        (Role.OPERATOR, {Action.VIEW, Action.RUN}),
        (Role.APPROVER, {Action.VIEW, Action.APPROVE}),
    ],
)
def test_each_team_role_allows_exactly_its_actions(team, playbook, role, allowed):
    user = person("u", team, role)
    assert {a for a in Action if can(user, a, playbook)} == allowed


def test_roles_in_another_team_give_nothing(team, playbook):
    other = Group.objects.create(name="other")
    user = person("u", other, Role.OPERATOR, Role.AUTHOR)
    assert not any(can(user, a, playbook) for a in Action)


def test_the_admin_group_may_do_everything_everywhere(playbook):
    user = person("root-ish")
    user.groups.add(Group.objects.get(name=ADMIN_GROUP))
    user = User.objects.get(id=user.id)  # permissions are cached per instance
    assert all(can(user, a, playbook) for a in Action)
    assert can(user, Action.ADMINISTER)


def test_a_team_role_never_administers(team):
    user = person("u", team, *Role)
    assert not can(user, Action.ADMINISTER)


def test_the_owner_reads_and_edits_but_does_not_run(playbook):
    owner = person("o")
    playbook.owner = owner
    playbook.save()
    assert {a for a in Action if can(owner, a, playbook)} == {Action.VIEW, Action.EDIT}


def test_an_inactive_user_may_do_nothing(team, playbook):
    user = person("u", team, Role.OPERATOR)
    user.is_active = False
    user.save()
    assert not can(user, Action.VIEW, playbook)


def test_new_playbooks_go_where_the_author_is_an_author(team):
    other = Group.objects.create(name="other")
    user = person("u", team, Role.AUTHOR)
    Membership.objects.create(user=user, team=other, role=Role.OPERATOR)
    assert list(teams_where(user, Action.EDIT)) == [team]
