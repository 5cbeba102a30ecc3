from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models

from drills.web.roles import Role


class Membership(models.Model):
    """One role of one person in one team (a Django group); see drills.web.roles."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="drillhall_memberships", on_delete=models.CASCADE
    )
    team = models.ForeignKey(Group, related_name="drillhall_memberships", on_delete=models.CASCADE)
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        ordering = ["team__name", "user__username", "role"]
        constraints = [
            models.UniqueConstraint(fields=["user", "team", "role"], name="one_role_once_per_team")
        ]
        # The global admin role (see drills.web.roles.ADMIN_PERMISSION).
        permissions = [("administer", "Administer Drillhall: inventory, users, halts")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} in {self.team}"
