"""Every mutation in an end-to-end run has exactly one audit entry, and nobody can change one.

Through the running stack (daphne, orchestrator, agents on the lab) and plain HTTP with CSRF:
a failed login, then save a playbook, start it, resume it at its pause, abort it once its
partition holds. The audit log, read back through the admins' JSON export, holds exactly
those five entries since the test began, nothing else; then the admin and raw SQL on the
stack's database both fail to change or delete one.
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import json
import re
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import LAB_HOSTS, ROOT, Stack

PLAYBOOK = ROOT / "tests" / "fixtures" / "playbooks" / "e2e" / "audit-trail.yaml"
LOOPBACK = "127.0.0.1"


class Browser:
    """Cookies, CSRF tokens and forms, as a browser sends them, over urllib."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def get(self, path: str) -> tuple[int, str, str]:
        try:
            with self.opener.open(self.base + path, timeout=15) as response:
                return response.status, response.geturl(), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.geturl(), exc.read().decode(errors="replace")

    def post(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        data = urllib.parse.urlencode({**(form or {}), "csrfmiddlewaretoken": self.csrf()})
        request = urllib.request.Request(self.base + path, data=data.encode(), method="POST")
        try:
            with self.opener.open(request, timeout=15) as response:
                return response.status, response.geturl(), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.geturl(), exc.read().decode(errors="replace")

    def log_in(self, username: str, password: str) -> int:
        self.get("/accounts/login/")
        status, url, _ = self.post("/accounts/login/", {"username": username, "password": password})
        return 302 if not url.endswith("/accounts/login/") else status

    def events(self, run_id: int) -> dict[str, Any]:
        status, _, body = self.get(f"/runs/{run_id}/events")
        assert status == 200, body[:500]
        return dict(json.loads(body))


def wait_for_event(browser: Browser, run_id: int, kind: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = browser.events(run_id)
        if any(e["type"] == kind for e in page["events"]):
            return page
        assert page["state"] not in ("passed", "failed", "aborted", "error"), page["events"]
        time.sleep(0.3)
    raise AssertionError(f"run {run_id}: no {kind} event within {timeout:g}s")


def audit_rows(db: Path, query: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db, timeout=10) as conn:
        return conn.execute(query, args).fetchall()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.lab
def test_every_mutation_in_an_end_to_end_run_has_exactly_one_entry(
    stack: Stack, e2e_password: str
) -> None:
    db = Path(stack.env["DRILLHALL_SQLITE_PATH"])
    # The stack's own mutations come first: the lab's hosts, the examples, each agent.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        registered = {
            row[0]
            for row in audit_rows(
                db, "SELECT object_id FROM drills_auditentry WHERE action = 'agent_register'"
            )
        }
        if set(LAB_HOSTS) <= registered:
            break
        time.sleep(0.5)
    assert set(LAB_HOSTS) <= registered, "the agents' registrations are not in the log"
    (mark,) = audit_rows(db, "SELECT coalesce(max(id), 0) FROM drills_auditentry")[0]

    browser = Browser(stack.url)
    assert browser.log_in("owner", "not-the-password") == 200
    assert browser.log_in("owner", e2e_password) == 302

    text = PLAYBOOK.read_text()
    status, url, body = browser.post("/playbooks/new/", {"content": text, "message": "e2e"})
    assert status == 200 and url.endswith("/playbooks/audit-trail/edit/"), body[:2000]

    status, url, _ = browser.post("/playbooks/audit-trail/run")
    match = re.search(r"/runs/(\d+)/$", url)
    assert status == 200 and match, url
    run_id = int(match.group(1))
    wait_for_event(browser, run_id, "paused", timeout=60)
    browser.post(f"/runs/{run_id}/resume")
    wait_for_event(browser, run_id, "fault_applied", timeout=60)
    browser.post(f"/runs/{run_id}/abort")
    deadline = time.monotonic() + 60
    while browser.events(run_id)["state"] != "aborted":
        assert time.monotonic() < deadline, browser.events(run_id)["events"][-3:]
        time.sleep(0.5)
    (run_key,) = audit_rows(db, "SELECT key FROM drills_drillrun WHERE id = ?", run_id)[0]

    # The log as admins export it: everything since the mark, oldest first.
    status, _, body = browser.get("/audit/export.json")
    assert status == 200, body[:500]
    since = sorted((e for e in json.loads(body) if e["id"] > mark), key=lambda e: e["id"])
    got = [
        (e["action"], e["actor"], e["source"], e["object_type"], e["object_id"], e["content_hash"])
        for e in since
    ]
    assert got == [
        ("login_failed", "", LOOPBACK, "user", "owner", sha256("owner")),
        ("playbook_save", "owner", LOOPBACK, "playbook", "audit-trail", sha256(text)),
        ("run_start", "owner", LOOPBACK, "run", str(run_id), sha256(text)),
        ("run_resume", "owner", LOOPBACK, "run", str(run_id), sha256(f"resume 1 of run {run_key}")),
        ("run_abort", "owner", LOOPBACK, "run", str(run_id), sha256("aborted by owner")),
    ], [e["summary"] for e in since]
    assert [e["summary"] for e in since][1:] == [
        "created playbook audit-trail as v1: “e2e”",
        f"started run {run_id} of audit-trail v1",
        f"resumed run {run_id} of audit-trail v1 (resume 1)",
        f"aborted run {run_id} of audit-trail v1: aborted by owner",
    ]
    # The page says the same in words.
    status, _, page = browser.get("/audit/?object=run+" + str(run_id))
    assert status == 200
    assert f"aborted run {run_id} of audit-trail v1: aborted by owner" in page

    # Trying to change or delete an entry fails: in the admin, and in the database itself.
    abort_id = since[-1]["id"]
    change = f"/admin/drills/auditentry/{abort_id}/change/"
    assert browser.get(change)[0] == 200  # read-only
    assert browser.post(change, {"summary": "nothing happened"})[0] == 403
    assert browser.post(f"/admin/drills/auditentry/{abort_id}/delete/", {"post": "yes"})[0] == 403
    for sql in (
        "UPDATE drills_auditentry SET summary = 'nothing happened' WHERE id = ?",
        "DELETE FROM drills_auditentry WHERE id = ?",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            audit_rows(db, sql, abort_id)
    (summary,) = audit_rows(db, "SELECT summary FROM drills_auditentry WHERE id = ?", abort_id)[0]
    assert summary == f"aborted run {run_id} of audit-trail v1: aborted by owner"
    # Nothing since: the refused attempts changed nothing, so they wrote nothing.
    (last,) = audit_rows(db, "SELECT max(id) FROM drills_auditentry")[0]
    assert last == abort_id
