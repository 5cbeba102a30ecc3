"""The personas of the web and websocket tests, in one world: a team, its playbook, and people.

One persona per role (drills.web.roles), so that an access check is one line each:

    viewer    vera    viewer in the team
    author    arthur  author in the team
    operator  opal    operator in the team
    approver  april   approver in the team
    admin     ada     in the "drillhall admins" group (the admin role), not a superuser
    outsider  otto    signed in, no role anywhere

and the two the tests had before roles, kept for what they test (pages, runs, sockets):

    owner     olive   wrote the playbook; author and operator in the team
    member    max     author and operator in the team (what a team member could do before)

Plain functions (not fixtures) so both test packages build the same world.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import Group, User

from drills.web.models import DrillRun, Membership, Playbook, PlaybookVersion
from drills.web.roles import ADMIN_GROUP, Role

PLAYBOOK_YAML = Path(__file__).with_name("checkout-partition.yaml")
PASSWORD = "correct-horse-battery"
# The six personas of the role matrix, by the role they stand for.
PERSONAS = ("viewer", "author", "operator", "approver", "admin", "outsider")


@dataclass
class World:
    owner: User
    member: User
    outsider: User
    team: Group
    playbook: Playbook
    version: PlaybookVersion
    viewer: User
    author: User
    operator: User
    approver: User
    admin: User

    def persona(self, name: str) -> User:
        if name not in PERSONAS:
            raise KeyError(name)
        return getattr(self, name)  # type: ignore[no-any-return]


def person(name: str, team: Group | None = None, *roles: Role) -> User:
    """A user holding ``roles`` in ``team``; Role.ADMIN puts them in the admin group."""
    user = User.objects.create_user(name, password=PASSWORD)
    for role in roles:
        if role is Role.ADMIN:
            user.groups.add(Group.objects.get(name=ADMIN_GROUP))
        else:
            Membership.objects.create(user=user, team=team, role=role)
    return user


def build_world() -> World:
    team = Group.objects.create(name="platform-team")
    owner = person("olive", team, Role.AUTHOR, Role.OPERATOR)
    member = person("max", team, Role.AUTHOR, Role.OPERATOR)
    outsider = person("otto")
    playbook = Playbook.objects.create(name="checkout-partition", owner=owner, team=team)
    version = playbook.save_version(PLAYBOOK_YAML.read_text(), author=owner, message="first")
    return World(
        owner,
        member,
        outsider,
        team,
        playbook,
        version,
        viewer=person("vera", team, Role.VIEWER),
        author=person("arthur", team, Role.AUTHOR),
        operator=person("opal", team, Role.OPERATOR),
        approver=person("april", team, Role.APPROVER),
        admin=person("ada", None, Role.ADMIN),
    )


def make_run(
    version: PlaybookVersion, user: User | None = None, state: str = "pending"
) -> DrillRun:
    """A run row as the orchestrator would leave it, without starting a drill."""
    return DrillRun.objects.create(version=version, started_by=user, state=state)
