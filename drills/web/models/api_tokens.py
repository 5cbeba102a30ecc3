"""Per-user API tokens, as stored: a name, a short prefix to find the row by, and the sha256 of
the token. The token itself is shown once, when it is made (drills/web/token_issuing.py), and is
kept nowhere on the server."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="drillhall_api_tokens", on_delete=models.CASCADE
    )
    name = models.CharField(max_length=100)
    # The first characters of the token: what the list shows, and how a request's token finds
    # its row (then compared by hash in constant time).
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"API token {self.prefix}… “{self.name}” of {self.user}"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None
