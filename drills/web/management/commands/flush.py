"""`manage.py flush`, which keeps the audit log.

The audit table refuses DELETE and TRUNCATE (migration 0010): Django's own flush would fail
on it, and nothing in Drillhall empties it. This one empties every other table, exactly as
Django's does (the test runner flushes between transactional tests with it).
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands.flush import Command as DjangoFlush
from django.db import connections

from drills.web.models import AuditEntry


class Command(DjangoFlush):
    help = DjangoFlush.help + " The audit log is kept: it is append-only."

    def handle(self, **options: Any) -> None:
        introspection = connections[options["database"]].introspection
        every_table = introspection.django_table_names
        audit_table = AuditEntry._meta.db_table

        def all_but_the_audit_log(*args: Any, **kwargs: Any) -> list[str]:
            return [t for t in every_table(*args, **kwargs) if t != audit_table]

        introspection.django_table_names = all_but_the_audit_log  # type: ignore[method-assign]
        try:
            super().handle(**options)
        finally:
            del introspection.django_table_names
