"""Who may do what: roles per team, and one global admin role.

A team is a Django group (``Playbook.team``). A person holds one or more roles in a team
(``Membership``); a role is a set of actions on that team's playbooks. The admin role is
global: it is the Django permission ``drills.administer`` (superusers have it, and the
"drillhall admins" group carries it), because inventory, users, protected hosts and releasing
a halt belong to no team.

    viewer    read
    author    read, edit playbooks and game days
    operator  read, run, abort, resume
    approver  read, approve runs that touch protected hosts
    admin     everything, everywhere

The owner of a playbook may read and edit it (they wrote it), nothing more. Pressing Halt all
needs no role: any signed-in person who sees a drill go wrong may stop every drill.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from drills.web.models import Playbook

ADMIN_PERMISSION = "drills.administer"
ADMIN_GROUP = "drillhall admins"


class Role(models.TextChoices):
    VIEWER = "viewer", "viewer"
    AUTHOR = "author", "author"
    OPERATOR = "operator", "operator"
    APPROVER = "approver", "approver"
    ADMIN = "admin", "admin"


class Action(StrEnum):
    VIEW = "view"
    EDIT = "edit"
    RUN = "run"  # start, abort, resume
    APPROVE = "approve"
    ADMINISTER = "administer"  # inventory, users, protected hosts, release a halt


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.VIEW}),
    Role.AUTHOR: frozenset({Action.VIEW, Action.EDIT}),
    Role.OPERATOR: frozenset({Action.VIEW, Action.RUN}),
    Role.APPROVER: frozenset({Action.VIEW, Action.APPROVE}),
    Role.ADMIN: frozenset(Action),
}
OWNER_ACTIONS = frozenset({Action.VIEW, Action.EDIT})


def is_admin(user: Any) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.has_perm(ADMIN_PERMISSION)
    )


def roles_in(user: Any, team_id: int | None) -> set[Role]:
    """The roles ``user`` holds in one team (none for a playbook without a team)."""
    from drills.web.models.teams import Membership

    if team_id is None or user is None or not user.is_authenticated:
        return set()
    return {
        Role(r)
        for r in Membership.objects.filter(user_id=user.id, team_id=team_id).values_list(
            "role", flat=True
        )
    }


def actions_in(user: Any, playbook: Playbook) -> frozenset[Action]:
    """Everything ``user`` may do to ``playbook``."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    if is_admin(user):
        return frozenset(Action)
    allowed: set[Action] = set()
    for role in roles_in(user, playbook.team_id):
        allowed |= ROLE_ACTIONS[role]
    if playbook.owner_id is not None and playbook.owner_id == user.id:
        allowed |= OWNER_ACTIONS
    return frozenset(allowed)


def can(user: Any, action: Action, playbook: Playbook | None = None) -> bool:
    """May ``user`` do ``action`` to ``playbook``; without a playbook, in any team at all
    (creating a playbook needs the author role somewhere), or globally for ADMINISTER."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if is_admin(user):
        return True
    if action is Action.ADMINISTER:
        return False
    if playbook is not None:
        return action in actions_in(user, playbook)
    from drills.web.models.teams import Membership

    roles = [r for r, actions in ROLE_ACTIONS.items() if action in actions]
    return Membership.objects.filter(user_id=user.id, role__in=roles).exists()


def teams_where(user: Any, action: Action) -> models.QuerySet:
    """The teams (groups) in which ``user`` may do ``action``: where a new playbook may go."""
    from django.contrib.auth.models import Group

    if is_admin(user):
        return Group.objects.all()
    roles = [r for r, actions in ROLE_ACTIONS.items() if action in actions]
    return Group.objects.filter(
        drillhall_memberships__user_id=user.id, drillhall_memberships__role__in=roles
    ).distinct()
