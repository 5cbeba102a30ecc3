"""Saved texts of a document (a playbook, a game day): immutable, numbered from 1, one audit
entry per new version, and nothing new when the text equals the latest version."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.db import models, transaction


class DocumentVersion(models.Model):
    """An immutable saved text; runs pin one."""

    number = models.PositiveIntegerField()
    content = models.TextField()
    content_hash = models.CharField(max_length=64)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    message = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


@transaction.atomic
def save_new_version(
    document: Any,
    content: str,
    author: Any,
    message: str,
    origin: Any,
    *,
    action: Any,
    object_type: str,
    created: str,
    saved: str,
) -> Any:
    """Store ``content`` as ``document``'s next version unless it equals the latest one; the
    new version is one audit entry by ``origin`` (without one: the author, from an unknown
    address), written in the same transaction. ``created`` and ``saved`` are the entry's
    sentences, formatted with the document's ``name`` and the version's ``number``."""
    from drills.web.audit import Origin, record_as

    digest = hashlib.sha256(content.encode()).hexdigest()
    latest = document.latest_version()
    if latest is not None and latest.content_hash == digest:
        return latest
    number = 1 if latest is None else latest.number + 1
    version = document.versions.create(
        number=number, content=content, content_hash=digest, author=author, message=message
    )
    summary = (created if number == 1 else saved).format(name=document.name, number=number)
    record_as(
        action,
        origin or Origin(author, ""),
        object_type=object_type,
        object_id=document.name,
        summary=f"{summary}: “{message}”" if message else summary,
        content=content,
    )
    return version
