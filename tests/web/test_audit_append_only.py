"""No way to change or delete an audit entry: not through the ORM, not through the admin,
not with raw SQL on SQLite or PostgreSQL (the triggers of migration 0010), not by flushing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse

from drills.web.audit import AuditAction, record
from drills.web.models import AuditEntry
from drills.web.models.audit_entries import AppendOnly

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def entry() -> AuditEntry:
    return record(
        AuditAction.RUN_ABORT,
        actor="olive",
        source="192.0.2.7",
        object_type="run",
        object_id="3",
        summary="aborted run 3 of checkout-partition v1: aborted by olive",
        content="aborted by olive",
    )


def unchanged(entry: AuditEntry) -> bool:
    stored = AuditEntry.objects.get(id=entry.id)
    return (stored.summary, stored.actor_name, stored.at) == (
        entry.summary,
        entry.actor_name,
        entry.at,
    )


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE drills_auditentry SET summary = 'nothing happened'",
        "UPDATE drills_auditentry SET actor_name = 'mallory' WHERE id = %(id)s",
        "DELETE FROM drills_auditentry WHERE id = %(id)s",
        "DELETE FROM drills_auditentry",
    ],
)
def test_raw_sql_cannot_change_or_delete_an_entry_on_sqlite(entry: AuditEntry, sql: str) -> None:
    assert connection.vendor == "sqlite"
    with pytest.raises(IntegrityError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql % {"id": entry.id})
    assert unchanged(entry)


def test_entries_can_still_be_appended_with_raw_sql(entry: AuditEntry) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO drills_auditentry (at, action, actor_name, source, object_type, "
            "object_id, summary, content_hash) VALUES "
            "(CURRENT_TIMESTAMP, 'halt', 'root', 'cli', '', '', 'halt all', '')"
        )
    assert AuditEntry.objects.count() == 2


def test_the_orm_refuses_every_way_to_change_or_delete(entry: AuditEntry) -> None:
    entry.summary = "nothing happened"
    for attempt in (
        entry.save,
        entry.delete,
        lambda: AuditEntry.objects.filter(id=entry.id).update(summary="x"),
        lambda: AuditEntry.objects.all().delete(),
        lambda: AuditEntry.objects.bulk_update([entry], ["summary"]),
    ):
        with pytest.raises((AppendOnly, IntegrityError)):
            with transaction.atomic():
                attempt()
    entry.refresh_from_db()
    assert entry.summary.startswith("aborted run 3")


@pytest.fixture
def superuser_client() -> Client:
    admin = User.objects.create_superuser("ada", "ada@example.test", "pw")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    return client


def csrf_token(client: Client, url: str) -> str:
    response = client.get(url)
    return str(response.context["csrf_token"])


def test_the_admin_shows_entries_but_a_superuser_cannot_change_or_delete_one(
    superuser_client: Client, entry: AuditEntry
) -> None:
    changelist = reverse("admin:drills_auditentry_changelist")
    change = reverse("admin:drills_auditentry_change", args=[entry.id])
    delete = reverse("admin:drills_auditentry_delete", args=[entry.id])
    page = superuser_client.get(changelist)
    assert page.status_code == 200
    assert "aborted run 3 of checkout-partition v1" in page.content.decode()
    assert superuser_client.get(reverse("admin:drills_auditentry_add")).status_code == 403
    assert superuser_client.get(change).status_code == 200  # read-only view
    assert superuser_client.get(delete).status_code == 403
    token = csrf_token(superuser_client, change)
    form = {"csrfmiddlewaretoken": token, "summary": "nothing happened", "actor_name": "mallory"}
    assert superuser_client.post(change, form).status_code == 403
    assert (
        superuser_client.post(delete, {"csrfmiddlewaretoken": token, "post": "yes"}).status_code
        == 403
    )
    bulk = {
        "csrfmiddlewaretoken": token,
        "action": "delete_selected",
        "_selected_action": [entry.id],
        "post": "yes",
    }
    superuser_client.post(changelist, bulk)
    added = superuser_client.post(
        reverse("admin:drills_auditentry_add"),
        {"csrfmiddlewaretoken": token, "action": "halt", "summary": "forged"},
    )
    assert added.status_code == 403
    assert unchanged(entry)
    assert AuditEntry.objects.count() == 1


def test_a_staff_member_who_is_no_drillhall_admin_does_not_see_the_log(entry: AuditEntry) -> None:
    staff = User.objects.create_user("sam", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    url = reverse("admin:drills_auditentry_change", args=[entry.id])
    assert client.get(url).status_code in (302, 403)
    # The admin site is the admin role's: others are sent to its sign-in, or refused.
    assert client.get(reverse("admin:drills_auditentry_changelist")).status_code in (302, 403)


def test_flush_empties_everything_but_the_audit_log(entry: AuditEntry) -> None:
    User.objects.create_user("olive")
    call_command("flush", interactive=False, verbosity=0)
    assert User.objects.count() == 0
    assert unchanged(entry)


def test_the_triggers_are_there_after_every_migration() -> None:
    # A later migration that rebuilds the table on SQLite drops them; this says so.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master "
            "WHERE type = 'trigger' AND tbl_name = 'drills_auditentry'"
        )
        names = {row[0] for row in cursor.fetchall()}
    assert names == {"drills_auditentry_no_update", "drills_auditentry_no_delete"}


def _manage(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def test_raw_sql_cannot_change_delete_or_truncate_an_entry_on_postgresql() -> None:
    import psycopg

    from tests.verifier.probes.pgserver import postgres_server

    with postgres_server() as server:
        url = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
        _manage(env, "migrate", "--noinput", "-v0")
        _manage(
            env,
            "shell",
            "-c",
            "from django.contrib.auth.models import User; User.objects.create_user('olive'); "
            "from drills.web.audit import AuditAction, record; "
            "record(AuditAction.HALT, actor='olive', summary='halt all', content='why')",
        )
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            for sql in (
                "UPDATE drills_auditentry SET summary = 'nothing happened'",
                "DELETE FROM drills_auditentry",
                "TRUNCATE drills_auditentry",
            ):
                with pytest.raises(psycopg.errors.RestrictViolation, match="append-only"):
                    conn.execute(sql)
            rows = conn.execute("SELECT actor_name, summary FROM drills_auditentry").fetchall()
            assert rows == [("olive", "halt all")]
        # Django's flush would TRUNCATE every table: Drillhall's keeps the log.
        _manage(env, "flush", "--noinput")
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM drills_auditentry").fetchone() == (1,)
            assert conn.execute("SELECT count(*) FROM auth_user").fetchone() == (0,)
