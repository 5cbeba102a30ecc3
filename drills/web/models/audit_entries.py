from __future__ import annotations

from typing import Any, NoReturn

from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    PLAYBOOK_SAVE = "playbook_save", "playbook saved"
    GAMEDAY_SAVE = "gameday_save", "game day saved"
    GAMEDAY_START = "gameday_start", "game day started"
    GAMEDAY_STOP = "gameday_stop", "game day stopped"
    GAMEDAY_SCHEDULE = "gameday_schedule", "game day schedule paused or resumed"
    OBSERVATION = "observation", "observation recorded"
    ACTION_ITEM = "action_item", "action item recorded"
    RUN_START = "run_start", "run started"
    RUN_ABORT = "run_abort", "run aborted"
    RUN_RESUME = "run_resume", "run resumed"
    RUN_APPROVE = "run_approve", "run approved"
    HALT = "halt", "halt all"
    RELEASE = "release", "halt released"
    INVENTORY_CHANGE = "inventory_change", "inventory changed"
    AGENT_REGISTER = "agent_register", "agent registration"
    LOGIN_FAILED = "login_failed", "failed login"
    TOKEN_CREATE = "token_create", "API token created"
    TOKEN_REVOKE = "token_revoke", "API token revoked"


class AppendOnly(Exception):
    """The audit log is append-only: entries are never changed or deleted."""


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnly("audit entries cannot be changed")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise AppendOnly("audit entries cannot be deleted")


class AuditEntry(models.Model):
    """One mutation: who, when, from where, on what, and a hash of what it said.

    No foreign keys: deleting a user or a playbook must not rewrite (SET_NULL) or remove
    (CASCADE) the record of what they did.
    """

    at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices, editable=False)
    actor_id = models.IntegerField(null=True, blank=True, editable=False)
    actor_name = models.CharField(max_length=150, blank=True, editable=False)
    # The client's address for web requests, "cli", "agent <host>" or "system".
    source = models.CharField(max_length=100, blank=True, editable=False)
    object_type = models.CharField(max_length=32, blank=True, editable=False)
    object_id = models.CharField(max_length=100, blank=True, editable=False)
    summary = models.CharField(max_length=300, blank=True, editable=False)
    # sha256 of what the mutation carried (the playbook text, the reason, the registration).
    content_hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        who = self.actor_name or "someone unknown"
        return f"{self.at:%Y-%m-%d %H:%M:%S} {who}: {self.get_action_display()} {self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnly("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:  # type: ignore[override]
        raise AppendOnly("audit entries cannot be deleted")
