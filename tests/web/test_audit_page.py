"""/audit/: admins read the log (newest first, filtered, paginated, in words) and export the
filtered entries as CSV or JSON; everyone else is refused, and nobody can change it there."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group, User
from django.test import AsyncClient, Client
from django.urls import reverse

from drills.web.audit import AuditAction, record
from drills.web.models import AuditEntry, Membership
from drills.web.roles import ADMIN_GROUP
from drills.web.views.audit_log import PAGE_SIZE

pytestmark = pytest.mark.django_db
PAGE = reverse("audit-log")
CSV = reverse("audit-export-csv")
JSON = reverse("audit-export-json")


@pytest.fixture
def admin() -> User:
    """A Drillhall admin by role (the admins group), not a superuser."""
    user = User.objects.create_user("adela", password="pw")
    user.groups.add(Group.objects.get(name=ADMIN_GROUP))
    return user


@pytest.fixture
def operator() -> User:
    user = User.objects.create_user("otto", password="pw")
    team = Group.objects.create(name="platform-team")
    for role in ("viewer", "author", "operator", "approver"):
        Membership.objects.create(user=user, team=team, role=role)
    return user


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, 0, tzinfo=dt.UTC)


@pytest.fixture
def entries() -> None:
    """Five entries over three days, as the code that writes them would."""
    for when, action, actor, source, kind, ident, summary in [
        (at(1), "playbook_save", "max", "192.0.2.10", "playbook", "checkout-partition",
         "saved checkout-partition v2: “longer cut”"),
        (at(1, 13), "run_start", "max", "192.0.2.10", "run", "7",
         "started run 7 of checkout-partition v2"),
        (at(2), "run_abort", "olive", "192.0.2.11", "run", "7",
         "aborted run 7 of checkout-partition v2: aborted by olive"),
        (at(2, 13), "login_failed", "", "203.0.113.7", "user", "=HYPERLINK(\"x\")",
         "failed login as “=HYPERLINK(\"x\")”"),
        (at(3), "agent_register", "agent db1", "agent db1", "host", "db1",
         "accepted the registration of host db1: nothing changed"),
    ]:  # fmt: skip
        with time_machine.travel(when, tick=False):
            record(
                AuditAction(action),
                actor=actor,
                source=source,
                object_type=kind,
                object_id=ident,
                summary=summary,
                content=summary,
            )


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rows(html: str) -> list[str]:
    """The actions of the table's rows, top to bottom."""
    return re.findall(r'<tr data-entry="\d+" data-action="([a-z_]+)">', html)


def test_an_admin_sees_every_entry_newest_first_in_words(admin: User, entries: None) -> None:
    response = signed_in(admin).get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert rows(html) == [
        "agent_register",
        "login_failed",
        "run_abort",
        "run_start",
        "playbook_save",
    ]
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert (
        "2026-03-02 12:00:00 olive 192.0.2.11 run aborted aborted run 7 of checkout-partition v2"
        in text
    )
    assert "someone not signed in 203.0.113.7 failed login" in text
    assert "5 entries." in text
    # Links to what the entry is about; no reprs anywhere.
    assert f'href="{reverse("run-detail", args=[7])}"' in html
    table = html[html.index('id="audit-table"') : html.index("</table>")]
    words = " ".join(re.sub(r"<[^>]+>", " ", table).split())
    assert "{" not in words and "AuditEntry" not in words and "None" not in words


def test_a_superuser_is_an_admin_too(entries: None) -> None:
    root = User.objects.create_superuser("root", "root@example.test", "pw")
    assert signed_in(root).get(PAGE).status_code == 200


def test_everyone_else_is_refused_and_anonymous_asked_to_log_in(
    operator: User, entries: None
) -> None:
    client = signed_in(operator)
    for url in (PAGE, CSV, JSON):
        assert client.get(url).status_code == 403
    anonymous = Client()
    for url in (PAGE, CSV, JSON):
        response = anonymous.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_only_admins_see_the_link_in_the_header(admin: User, operator: User) -> None:
    assert 'id="audit-link"' in signed_in(admin).get(reverse("playbook-list")).content.decode()
    assert (
        'id="audit-link"' not in signed_in(operator).get(reverse("playbook-list")).content.decode()
    )


def test_the_page_and_exports_answer_only_get(admin: User, entries: None) -> None:
    client = signed_in(admin)
    for url in (PAGE, CSV, JSON):
        assert client.post(url, {"summary": "x"}).status_code == 405
        assert client.delete(url).status_code == 405
    assert AuditEntry.objects.count() == 5


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": "run_abort"}, ["run_abort"]),
        ({"actor": "MAX"}, ["run_start", "playbook_save"]),
        ({"actor": "agent"}, ["agent_register"]),
        ({"object": "run 7"}, ["run_abort", "run_start"]),
        ({"object": "checkout-partition"}, ["playbook_save"]),
        ({"object": "host db1"}, ["agent_register"]),
        ({"since": "2026-03-02"}, ["agent_register", "login_failed", "run_abort"]),
        ({"until": "2026-03-01"}, ["run_start", "playbook_save"]),
        ({"since": "2026-03-02", "until": "2026-03-02"}, ["login_failed", "run_abort"]),
        ({"action": "run_start", "actor": "olive"}, []),
    ],
)
def test_filters(admin: User, entries: None, query: dict[str, str], expected: list[str]) -> None:
    response = signed_in(admin).get(PAGE, query)
    assert response.status_code == 200
    assert rows(response.content.decode()) == expected


def test_a_filter_that_makes_no_sense_says_why(admin: User, entries: None) -> None:
    client = signed_in(admin)
    response = client.get(PAGE, {"since": "2026-03-03", "until": "2026-03-01"})
    assert response.status_code == 400
    assert "the date range ends before it begins" in response.content.decode()
    response = client.get(PAGE, {"action": "drop_table"})
    assert response.status_code == 400
    assert client.get(CSV, {"since": "yesterday"}).status_code == 400


def test_it_pages_and_each_page_link_keeps_the_filter(admin: User) -> None:
    for n in range(PAGE_SIZE + 3):
        record(AuditAction.RUN_RESUME, actor="max", object_type="run", object_id=n)
    record(AuditAction.HALT, actor="olive")
    client = signed_in(admin)
    first = client.get(PAGE, {"action": "run_resume"}).content.decode()
    assert len(rows(first)) == PAGE_SIZE
    assert f"{PAGE_SIZE + 3} entries match the filter" in first
    link = re.search(r'href="\?([^"]+)" rel="next"', first)
    assert link is not None
    query = link.group(1).replace("&amp;", "&")
    assert "action=run_resume" in query and "page=2" in query
    second = client.get(f"{PAGE}?{query}").content.decode()
    assert rows(second) == ["run_resume"] * 3


def export(client: Client | AsyncClient, url: str, query: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return async_to_sync(client.get)(url, query or {})


async def _body(response) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join([chunk async for chunk in response.streaming_content])


def body(response) -> str:  # type: ignore[no-untyped-def]
    return async_to_sync(_body)(response).decode()


def admin_async(admin: User) -> AsyncClient:
    client = AsyncClient()
    client.force_login(admin)
    return client


def test_csv_export_streams_the_filtered_entries_safe_for_spreadsheets(
    admin: User, entries: None
) -> None:
    response = export(admin_async(admin), CSV, {"since": "2026-03-02"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.match(r'attachment; filename="drillhall-audit-\d{8}T\d{6}Z\.csv"',
                    response["Content-Disposition"])  # fmt: skip
    table = list(csv.DictReader(io.StringIO(body(response))))
    assert [r["action"] for r in table] == ["agent_register", "login_failed", "run_abort"]
    abort = table[2]
    assert (abort["actor"], abort["source"], abort["object_type"], abort["object_id"]) == (
        "olive",
        "192.0.2.11",
        "run",
        "7",
    )
    assert abort["at"] == "2026-03-02T12:00:00+00:00"
    stored = AuditEntry.objects.get(action="run_abort")
    assert abort["content_hash"] == stored.content_hash and len(stored.content_hash) == 64
    # A username typed as a formula is text to a spreadsheet.
    assert table[1]["object_id"] == '\'=HYPERLINK("x")'


def test_json_export_streams_the_filtered_entries(admin: User, entries: None) -> None:
    response = export(admin_async(admin), JSON, {"object": "run 7"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/json; charset=utf-8"
    data = json.loads(body(response))
    assert [(e["action"], e["actor"], e["object_id"]) for e in data] == [
        ("run_abort", "olive", "7"),
        ("run_start", "max", "7"),
    ]
    assert set(data[0]) == {
        "id", "at", "action", "actor", "actor_id", "source", "object_type", "object_id",
        "summary", "content_hash",
    }  # fmt: skip


def test_an_export_larger_than_one_chunk_has_every_entry_once(admin: User) -> None:
    from drills.web.views import audit_log

    total = audit_log.EXPORT_CHUNK * 2 + 7
    AuditEntry.objects.bulk_create(
        AuditEntry(action="run_resume", actor_name="max", object_type="run", object_id=str(n),
                   at=at(1))  # one instant: the keyset must order by id within it
        for n in range(total)
    )  # fmt: skip
    data = json.loads(body(export(admin_async(admin), JSON)))
    assert len(data) == total
    assert len({e["id"] for e in data}) == total
    assert [e["id"] for e in data] == sorted((e["id"] for e in data), reverse=True)
    lines = body(export(admin_async(admin), CSV)).splitlines()
    assert len(lines) == total + 1
