"""Where a game day tells what happened (channels), and the outbox of messages to send.

A message is written in the same transaction as the state change it tells of, and sent later
by a task (drills.web.notify): sending never blocks or changes a drill. ``dedupe_key`` names
the state change, unique per channel: telling the same change twice is refused by the
database, and a retried send is the same row, so never a second message.
"""

from __future__ import annotations

import secrets
import uuid

from django.db import models


def new_channel_secret() -> str:
    return secrets.token_urlsafe(32)


class ChannelKind(models.TextChoices):
    WEBHOOK = "webhook", "webhook (JSON, signed with HMAC-SHA256)"
    SLACK = "slack", "Slack-compatible incoming webhook"
    EMAIL = "email", "e-mail"


class NotificationChannel(models.Model):
    """Named in game-day documents; its address and secret are the server's, set by admins."""

    name = models.SlugField(max_length=63, unique=True)
    kind = models.CharField(max_length=8, choices=ChannelKind.choices)
    url = models.URLField(max_length=500, blank=True, help_text="webhook and Slack channels")
    # The webhook's signing key, given to the receiver once; never in a document.
    secret = models.CharField(max_length=100, default=new_channel_secret)
    recipients = models.TextField(blank=True, help_text="e-mail channels: addresses, one per line")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def recipient_list(self) -> list[str]:
        return [line.strip() for line in self.recipients.splitlines() if line.strip()]


class OutboxState(models.TextChoices):
    PENDING = "pending", "waiting to be sent"
    SENT = "sent", "sent"
    FAILED = "failed", "given up"


class OutboxMessage(models.Model):
    delivery = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    channel = models.ForeignKey(
        NotificationChannel, related_name="messages", on_delete=models.CASCADE
    )
    gameday = models.ForeignKey("drills.GameDay", related_name="messages", on_delete=models.CASCADE)
    gameday_run = models.ForeignKey(
        "drills.GameDayRun",
        null=True,
        blank=True,
        related_name="messages",
        on_delete=models.CASCADE,
    )
    dedupe_key = models.CharField(max_length=200)
    event = models.CharField(max_length=40)
    text = models.TextField()
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=8, choices=OutboxState.choices, default=OutboxState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When the next send may be tried; a sender claims a message by moving this forward.
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "dedupe_key"], name="one_message_per_change")
        ]
