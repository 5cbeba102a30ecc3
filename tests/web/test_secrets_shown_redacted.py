"""A version saved before secrets were named holds a PostgreSQL password. Nothing shows it: not
the detail, editor, history or diff pages, /api/plan, the run page, its events, the run
document, the HTML report or the admin. New events are stored without it, and the old version
cannot be restored as the latest. The stored text itself is left as it was."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from django.urls import reverse

from drills.engine.events import EventType
from drills.engine.plan import HostInfo, resolve_plan
from drills.playbook.parser import parse_playbook
from drills.report.html import render_html
from drills.web.models import DrillRun, PlaybookVersion, RunEvent
from drills.web.run_document import run_document
from drills.web.stream import RunEventSink
from tests.web.personas import PLAYBOOK_YAML, World, make_run

PASSWORD = "hunter2"
DSN = f"postgresql://shop:{PASSWORD}@db1/shop"
SHOWN_DSN = "postgresql://shop:&lt;redacted&gt;@db1/shop"  # as the HTML escapes it
OLD_TEXT = PLAYBOOK_YAML.read_text().replace(
    "    every: 250ms\n",
    f'    every: 250ms\n  - name: orders\n    canary: {{postgres: {{dsn: "{DSN}"}}}}\n',
)
INVENTORY = {
    "web": HostInfo("web", "10.77.0.2", "agent.web"),
    "db1": HostInfo("db1", "10.77.0.3", "agent.db1"),
}


def stored_before(world: World) -> PlaybookVersion:
    """Version 2, written to the table as a save before this change would have left it."""
    return PlaybookVersion.objects.create(
        playbook=world.playbook,
        number=2,
        content=OLD_TEXT,
        content_hash=hashlib.sha256(OLD_TEXT.encode()).hexdigest(),
        author=world.owner,
        message="add the orders canary",
    )


def old_plan() -> dict[str, Any]:
    """The plan a run of version 2 stored then: the DSN, password and all, in its params."""
    plan = resolve_plan(parse_playbook(OLD_TEXT.replace(f":{PASSWORD}@", "@")), INVENTORY)
    stored = plan.to_dict()
    stored["probes"][1]["params"]["dsn"] = DSN
    return stored


def old_run(world: World) -> DrillRun:
    run = make_run(stored_before(world), world.owner, state="failed")
    DrillRun.objects.filter(id=run.id).update(plan=old_plan())
    for seq, (kind, data) in enumerate(
        [
            ("state", {"state": "preflight", "previous": "pending"}),
            ("sample", {"probe": "orders", "ok": False, "error": f"FATAL: bad dsn {DSN}"}),
            ("error", {"message": f"the canary could not connect to {DSN}"}),
            ("result", {"state": "failed", "reason": f"probe orders: password={PASSWORD}"}),
        ],
        start=1,
    ):
        RunEvent.objects.create(run=run, seq=seq, type=kind, t=1000.0 + seq, data=data)
    run.refresh_from_db()
    return run


def assert_hidden(text: str) -> None:
    assert PASSWORD not in text


@pytest.fixture
def old(world: World) -> PlaybookVersion:
    return stored_before(world)


def test_the_stored_text_is_not_rewritten(old: PlaybookVersion) -> None:
    old.refresh_from_db()
    assert DSN in old.content


def test_the_detail_page_shows_the_latest_version_redacted(client, world: World, old) -> None:
    client.force_login(world.owner)
    html = client.get(reverse("playbook-detail", args=[world.playbook.name])).content.decode()
    assert_hidden(html)
    assert f"dsn: &quot;{SHOWN_DSN}&quot;" in html
    # The old version does not parse any more, and the page says why without the password.
    assert "a password is written in the DSN" in html


def test_the_editor_shows_the_text_redacted_and_will_not_save_it_back(
    client, world: World, old
) -> None:
    client.force_login(world.owner)
    url = reverse("playbook-edit", args=[world.playbook.name])
    html = client.get(url).content.decode()
    assert_hidden(html)
    assert SHOWN_DSN in html
    shown = OLD_TEXT.replace(PASSWORD, "<redacted>")
    response = client.post(url, {"content": shown, "message": "resave"})
    assert response.status_code == 400  # a written password, even a masked one, is refused
    assert world.playbook.versions.count() == 2
    assert_hidden(response.content.decode())


def test_history_and_diff_show_the_old_version_redacted(client, world: World, old) -> None:
    client.force_login(world.owner)
    history = client.get(reverse("playbook-versions", args=[world.playbook.name]))
    assert_hidden(history.content.decode())
    diff = client.get(reverse("playbook-diff", args=[world.playbook.name, 1, 2])).content.decode()
    assert_hidden(diff)
    assert SHOWN_DSN in diff
    backwards = client.get(reverse("playbook-diff", args=[world.playbook.name, 2, 1]))
    assert_hidden(backwards.content.decode())


def test_the_old_version_cannot_be_restored(client, world: World, old) -> None:
    world.playbook.save_version(PLAYBOOK_YAML.read_text() + "# v3\n", world.owner, "v3")
    client.force_login(world.owner)
    url = reverse("playbook-restore", args=[world.playbook.name, 2])
    response = client.post(url, follow=True)
    assert world.playbook.versions.count() == 3
    html = response.content.decode()
    assert "v2 has a password written in it and cannot be restored" in html
    assert_hidden(html)


@pytest.mark.parametrize("endpoint", ["api-plan", "api-validate"])
def test_the_plan_api_never_echoes_a_written_password(
    client, world: World, old, endpoint: str
) -> None:
    client.force_login(world.owner)
    body = json.dumps({"content": OLD_TEXT, "playbook": world.playbook.name})
    response = client.post(reverse(endpoint), body, content_type="application/json")
    assert_hidden(response.content.decode())
    answer = response.json()
    assert answer["ok"] is False
    (issue,) = answer["issues"]
    assert "a password is written in the DSN" in issue["message"]
    # At the password itself: line 15, the column where "hunter2" starts.
    line = OLD_TEXT.splitlines()[14]
    assert (issue["line"], issue["column"]) == (15, line.index(PASSWORD) + 1)


def test_the_run_page_and_its_events_hide_the_password(client, world: World) -> None:
    run = old_run(world)
    client.force_login(world.owner)
    page = client.get(reverse("run-detail", args=[run.id])).content.decode()
    assert_hidden(page)
    events = client.get(reverse("run-events", args=[run.id]))
    assert_hidden(events.content.decode())
    assert "&lt;redacted&gt;" in page or "<redacted>" in events.content.decode()


def test_the_run_document_and_the_html_report_hide_the_password(world: World) -> None:
    run = old_run(world)
    doc = run_document(run)
    text = json.dumps(doc)
    assert_hidden(text)
    assert doc["plan"]["probes"][1]["params"]["dsn"] == "postgresql://shop:<redacted>@db1/shop"
    assert "password=<redacted>" in doc["result"]["reason"]
    html = render_html(doc)
    assert_hidden(html)
    assert SHOWN_DSN in html
    # A document built by other means (an older export) is redacted by the renderer itself.
    raw = {**doc, "playbook": OLD_TEXT, "plan": old_plan()}
    assert_hidden(render_html(raw))


def test_new_events_are_stored_without_a_password(world: World) -> None:
    run = make_run(world.version, world.owner, state="observing")
    sink = RunEventSink(run.id)
    sink.emit(EventType.ERROR, {"message": f"could not connect: {DSN}"}, 1000.0)
    sink.emit(EventType.SAMPLE, {"probe": "orders", "ok": False, "password": PASSWORD}, 1000.1)
    stored = list(RunEvent.objects.filter(run=run).values_list("data", flat=True))
    assert_hidden(json.dumps(stored))
    assert stored[0]["message"] == "could not connect: postgresql://shop:<redacted>@db1/shop"


def test_the_admin_shows_versions_and_plans_redacted(client, world: World) -> None:
    run = old_run(world)
    world.owner.is_staff = world.owner.is_superuser = True
    world.owner.save()
    client.force_login(world.owner)
    version = client.get(reverse("admin:drills_playbookversion_change", args=[run.version.id]))
    assert version.status_code == 200
    assert_hidden(version.content.decode())
    assert SHOWN_DSN in version.content.decode()
    page = client.get(reverse("admin:drills_drillrun_change", args=[run.id]))
    assert page.status_code == 200
    assert_hidden(page.content.decode())


def test_the_sentence_sent_with_an_event_is_made_from_the_redacted_data(world) -> None:  # type: ignore[no-untyped-def]
    from drills.web.models import RunEvent
    from tests.web.personas import make_run

    run = make_run(world.version, world.owner)
    event = RunEvent.objects.create(
        run=run, seq=1, type="error",
        data={"message": "connect failed: redis://:hunter2secret@db1:6379/0 refused"}, t=1.0,
    )  # fmt: skip
    message = event.as_message()
    assert "hunter2secret" not in message["text"] and "hunter2secret" not in str(message["data"])
    assert message["text"].startswith("error: connect failed")
