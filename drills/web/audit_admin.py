"""The audit log in the Django admin: its read-only page, and the mixin that audits what
admins change there (hosts and services, users, groups, memberships).

Django's admin calls ``log_addition``, ``log_change`` and ``log_deletions`` once per object
it adds, changes (a form with inlines, a list-editable row) or deletes (one or many), in the
same transaction as the change: each becomes one audit entry, next to Django's own LogEntry.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.db.models import Model
from django.forms.models import model_to_dict
from django.http import HttpRequest

from drills.web.audit import AuditAction, Origin, record_as
from drills.web.models import AuditEntry
from drills.web.roles import is_admin


def _content(obj: Model) -> dict[str, Any]:
    """What the object holds now (hashed into the entry); a host with its services."""
    from drills.web.hosts import host_state
    from drills.web.models import Host

    if isinstance(obj, Host):
        return {"name": obj.name, **(host_state(obj.name) or {})}
    values = model_to_dict(obj)
    values.pop("password", None)  # a user's password hash has no business in the log
    return {key: _plain(value) for key, value in values.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple | set):
        return sorted(getattr(v, "pk", v) for v in value)
    return getattr(value, "pk", value)


def _what(obj: Model) -> str:
    return f"{obj._meta.verbose_name} {obj}"


class AuditedAdmin(admin.ModelAdmin):
    """Mix in first (``class HostAdmin(AuditedAdmin, admin.ModelAdmin)``): every add, change
    and delete in the admin is also one inventory_change entry in the audit log."""

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        self._audit(request, obj, f"added {_what(obj)} in the admin", _content(obj))
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        text = LogEntry(
            change_message=json.dumps(message) if isinstance(message, list) else str(message)
        ).get_change_message()
        said = f"changed {_what(obj)} in the admin"
        self._audit(request, obj, f"{said}: {text}" if text else said, _content(obj))
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        # Called before the objects are deleted: their content is still there to hash.
        for obj in queryset:
            self._audit(request, obj, f"deleted {_what(obj)} in the admin", _content(obj))
        return super().log_deletions(request, queryset)

    def _audit(self, request: HttpRequest, obj: Model, summary: str, content: Any) -> None:
        record_as(
            AuditAction.INVENTORY_CHANGE,
            Origin.of(request),
            object_type=obj._meta.model_name or "",
            object_id=str(obj),
            summary=summary,
            content=content,
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown in the admin, changed by nobody, superusers included: no add, change or delete
    (records that others pin or hash: playbook versions, audit entries)."""

    actions = None  # no "delete selected"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Read-only for Drillhall admins, superusers included: no add, change or delete."""

    list_display = ["at", "actor_name", "source", "action", "summary"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_name", "source", "object_id", "summary"]
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_admin(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_admin(request.user)
