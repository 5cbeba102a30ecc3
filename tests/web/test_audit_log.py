"""The audit log is append-only through the ORM."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth.models import User

from drills.web.audit import AuditAction, record
from drills.web.models import AuditEntry
from drills.web.models.audit_entries import AppendOnly

pytestmark = pytest.mark.django_db


def test_an_entry_names_actor_source_object_and_content_hash():
    user = User.objects.create_user("olive")
    entry = record(
        AuditAction.RUN_ABORT,
        actor=user,
        source="192.0.2.7",
        object_type="run",
        object_id="k123",
        summary="aborted run 3",
        content="aborted by olive",
    )
    stored = AuditEntry.objects.get(id=entry.id)
    assert (stored.actor_name, stored.actor_id, stored.source) == ("olive", user.id, "192.0.2.7")
    assert stored.content_hash == hashlib.sha256(b"aborted by olive").hexdigest()


def test_entries_cannot_be_changed_or_deleted():
    entry = record(AuditAction.HALT, actor="olive", summary="halt all")
    entry.summary = "nothing happened"
    with pytest.raises(AppendOnly):
        entry.save()
    with pytest.raises(AppendOnly):
        entry.delete()
    with pytest.raises(AppendOnly):
        AuditEntry.objects.filter(id=entry.id).update(summary="nothing")
    with pytest.raises(AppendOnly):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(id=entry.id).summary == "halt all"
