"""`manage.py grant USER ROLE [TEAM]`: give someone a role (``--revoke`` takes it back).

Team roles (viewer, author, operator, approver) are held in a team; admin is global (the
"drillhall admins" group). The admin site does the same on the Memberships page.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

from drills.web.models import Membership
from drills.web.roles import ADMIN_GROUP, Role


class Command(BaseCommand):
    help = "Give USER the ROLE in TEAM (admin needs no team); --revoke takes it back."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="user name")
        parser.add_argument("role", choices=Role.values)
        parser.add_argument("team", nargs="?", default="", help="team name (a Django group)")
        parser.add_argument("--revoke", action="store_true", help="take the role back")
        parser.add_argument(
            "--create",
            action="store_true",
            help="make the user (with no password: for the CLI or a CI job) and the team "
            "when they do not exist yet",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        role = Role(options["role"])
        name, team_name = options["user"], options["team"]
        if role is Role.ADMIN and team_name:
            raise CommandError("admin is not a team role: leave the team out")
        if role is not Role.ADMIN and not team_name:
            raise CommandError(f"{role} is held in a team: name the team")
        user = self._user(name, options["create"])
        if role is Role.ADMIN:
            group = Group.objects.filter(name=ADMIN_GROUP).first()
            if group is None:  # made by migrate (drills/web/apps.py)
                raise CommandError(f"there is no {ADMIN_GROUP} group yet: run manage.py migrate")
            if options["revoke"]:
                group.user_set.remove(user)
                self.stdout.write(f"{name} is no longer an admin")
            else:
                group.user_set.add(user)
                self.stdout.write(f"{name} is an admin")
            return
        team = self._team(team_name, options["create"])
        if options["revoke"]:
            Membership.objects.filter(user=user, team=team, role=role).delete()
            self.stdout.write(f"{name} is no longer {role} in {team_name}")
        else:
            Membership.objects.get_or_create(user=user, team=team, role=role)
            self.stdout.write(f"{name} is {role} in {team_name}")

    def _user(self, name: str, create: bool) -> Any:
        users = get_user_model()
        user = users.objects.filter(username=name).first()
        if user is not None:
            return user
        if not create:
            raise CommandError(f"there is no user {name}; add --create to make one")
        user = users.objects.create_user(name)  # no usable password: it cannot sign in
        self.stdout.write(f"created user {name} (no password; set one with changepassword)")
        return user

    def _team(self, name: str, create: bool) -> Group:
        if name == ADMIN_GROUP:
            raise CommandError(f"{ADMIN_GROUP} is the admin role, not a team")
        team = Group.objects.filter(name=name).first()
        if team is not None:
            return team
        if not create:
            raise CommandError(f"there is no team {name}; add --create to make it")
        self.stdout.write(f"created team {name}")
        return Group.objects.create(name=name)
