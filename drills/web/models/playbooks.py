from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.urls import reverse

from drills.web.models.versions import DocumentVersion, save_new_version
from drills.web.roles import Action, can, is_admin, teams_where


class Playbook(models.Model):
    name = models.SlugField(max_length=63, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # What people may do with the playbook is their role in this team (drills.web.roles);
    # without a team, only its owner and admins see it.
    team = models.ForeignKey(Group, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def latest_version(self) -> PlaybookVersion | None:
        return self.versions.order_by("-number").first()

    def get_absolute_url(self) -> str:
        return reverse("playbook-detail", args=[self.name])

    def can_access(self, user) -> bool:  # type: ignore[no-untyped-def]
        """May ``user`` see this playbook at all (any role in its team, its owner, an admin)."""
        return can(user, Action.VIEW, self)

    def save_version(  # type: ignore[no-untyped-def]
        self, content: str, author=None, message: str = "", *, origin=None
    ) -> PlaybookVersion:
        """Store content as a new immutable version unless it equals the latest one.

        A new version is one audit entry, in the same transaction, by ``origin`` (who saved
        it and from where; without one, the author from an unknown address). Saving the
        text of the latest version again changes nothing and writes no entry.
        """
        from drills.web.audit import AuditAction

        return save_new_version(
            self,
            content,
            author,
            message,
            origin,
            action=AuditAction.PLAYBOOK_SAVE,
            object_type="playbook",
            created="created playbook {name} as v1",
            saved="saved {name} v{number}",
        )

    @classmethod
    def visible_to(cls, user):  # type: ignore[no-untyped-def]
        """The playbooks ``user`` may see: those of teams where they hold any role, their own,
        and all of them for an admin. Being in a team's Django group alone gives nothing."""
        if not user.is_authenticated or not user.is_active:
            return cls.objects.none()
        if is_admin(user):
            return cls.objects.all()
        return cls.objects.filter(
            models.Q(owner=user) | models.Q(team__in=teams_where(user, Action.VIEW))
        )


class PlaybookVersion(DocumentVersion):
    """An immutable saved text of a playbook; runs pin one."""

    playbook = models.ForeignKey(Playbook, related_name="versions", on_delete=models.CASCADE)

    class Meta:
        ordering = ["playbook", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "number"], name="unique_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.playbook.name} v{self.number}"
