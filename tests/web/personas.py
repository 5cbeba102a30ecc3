"""The three personas of the web and websocket tests: owner, team member, outsider.

Plain functions (not fixtures) so both test packages build the same world.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import Group, User

from drills.web.models import DrillRun, Playbook, PlaybookVersion

PLAYBOOK_YAML = Path(__file__).with_name("checkout-partition.yaml")
PASSWORD = "correct-horse-battery"


@dataclass
class World:
    owner: User
    member: User
    outsider: User
    team: Group
    playbook: Playbook
    version: PlaybookVersion


def build_world() -> World:
    team = Group.objects.create(name="platform-team")
    owner = User.objects.create_user("olive", password=PASSWORD)
    member = User.objects.create_user("max", password=PASSWORD)
    member.groups.add(team)
    outsider = User.objects.create_user("otto", password=PASSWORD)
    playbook = Playbook.objects.create(name="checkout-partition", owner=owner, team=team)
    version = playbook.save_version(PLAYBOOK_YAML.read_text(), author=owner, message="first")
    return World(owner, member, outsider, team, playbook, version)


def make_run(
    version: PlaybookVersion, user: User | None = None, state: str = "pending"
) -> DrillRun:
    """A run row as the orchestrator would leave it, without starting a drill."""
    return DrillRun.objects.create(version=version, started_by=user, state=state)
