"""The REST API's behaviour, persona by persona, with API tokens: what each endpoint does
beyond who may reach it (tests/web/test_role_matrix.py has every route x persona)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from drills.engine.states import RunState
from drills.web import report_files
from drills.web.hosts import register_host
from drills.web.models import AuditEntry, DrillRun, Host, Playbook, RunEvent
from tests.web.api_client import ApiClient
from tests.web.approval_queue import OrchestratorQueue
from tests.web.gameday_scene import GameDayScene
from tests.web.halt_state import forget_redis
from tests.web.personas import World, make_run

pytestmark = pytest.mark.django_db
PB = "/api/v1/playbooks/checkout-partition"


@pytest.fixture
def hosts(world: World) -> None:
    register_host("web", "10.77.0.2", "dh-web")
    register_host("db1", "10.77.0.3", "dh-db1")


@pytest.fixture
def queue(private_queue: str, needs_redis: str) -> Iterator[OrchestratorQueue]:
    """Starts hand runs to the real broker, on a queue of this test's own."""
    q = OrchestratorQueue(needs_redis, private_queue)
    yield q
    q.clear()


def api(world: World, persona: str) -> ApiClient:
    return ApiClient(world.persona(persona))


# -- playbooks and versions -----------------------------------------------------------------------


def test_an_author_creates_a_playbook_and_saves_versions(world: World) -> None:
    author = api(world, "author")
    text = world.version.content.replace("name: checkout-partition", "name: api-made")
    made = author.post("/api/v1/playbooks/", {"content": text, "message": "from CI"})
    assert made.status_code == 201
    assert made.json()["version"]["number"] == 1 and made.json()["created"] is True
    assert Playbook.objects.get(name="api-made").team == world.team
    same = author.post("/api/v1/playbooks/api-made/versions/", {"content": text})
    assert same.status_code == 200 and same.json()["created"] is False
    changed = author.post(
        "/api/v1/playbooks/api-made/versions/", {"content": text + "# v2\n", "message": "two"}
    )
    assert changed.status_code == 201 and changed.json()["version"]["number"] == 2
    saves = AuditEntry.objects.filter(action="playbook_save", object_id="api-made")
    assert [e.actor_name for e in saves] == ["arthur", "arthur"]
    listed = author.get("/api/v1/playbooks/api-made/versions/").json()
    assert [v["number"] for v in listed] == [2, 1]


def test_an_invalid_text_is_refused_with_a_sentence_and_the_parser_s_issues(world: World) -> None:
    author = api(world, "author")
    broken = world.version.content.replace("steps:", "stepz:")
    response = author.post(f"{PB}/versions/", {"content": broken})
    assert response.status_code == 400
    answer = response.json()
    assert answer["detail"].startswith("the playbook is not valid")
    assert any("stepz" in i["message"] for i in answer["issues"])
    assert world.playbook.versions.count() == 1


def test_a_text_for_another_playbook_is_refused(world: World) -> None:
    other = world.version.content.replace("name: checkout-partition", "name: other")
    response = api(world, "author").post(f"{PB}/versions/", {"content": other})
    assert response.status_code == 400
    assert "metadata.name is 'other' but this is playbook" in response.json()["detail"]


def test_a_viewer_reads_a_version_and_the_diff_between_two(world: World) -> None:
    world.playbook.save_version(world.version.content + "# added\n", author=world.owner)
    viewer = api(world, "viewer")
    one = viewer.get(f"{PB}/versions/1/").json()
    assert one["content"] == world.version.content
    diff = viewer.get(f"{PB}/diff/1/2/").json()
    assert "+# added" in diff["unified"]
    assert [line for line in diff["lines"] if line["kind"] == "add"][0]["text"] == "# added"
    missing = viewer.get(f"{PB}/versions/9/")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "playbook checkout-partition has no version 9"}


# -- validate and plan ----------------------------------------------------------------------------


def test_validate_leaves_the_plan_out_for_a_viewer_and_plan_refuses_them(
    world: World, hosts: None
) -> None:
    body = {"content": world.version.content}
    seen = api(world, "viewer").post("/api/v1/validate/", body).json()
    assert seen["ok"] is True and seen["plan"] is None and "10.77.0.3" not in json.dumps(seen)
    planned = api(world, "operator").post("/api/v1/validate/", body).json()
    assert planned["plan"] is not None
    refused = api(world, "viewer").post("/api/v1/plan/", body)
    assert refused.status_code == 403 and "author or operator role" in refused.json()["detail"]
    assert api(world, "author").post("/api/v1/plan/", body).status_code == 200


def test_a_plan_the_inventory_refuses_is_422_with_its_problems(world: World) -> None:
    response = api(world, "operator").post("/api/v1/plan/", {"content": world.version.content})
    assert response.status_code == 422
    assert response.json()["plan"] is None and response.json()["plan_problems"]


# -- runs ---------------------------------------------------------------------------------------


def test_an_operator_starts_a_run_as_the_page_does(
    world: World, hosts: None, queue: OrchestratorQueue
) -> None:
    response = api(world, "operator").post(f"{PB}/runs/")
    assert response.status_code == 201
    run = DrillRun.objects.get(id=response.json()["id"])
    assert (run.source, run.started_by, run.state) == ("api", world.operator, RunState.PENDING)
    assert response.json()["plan"]["hosts"]
    assert queue.run_keys() == [run.key], "handed to the orchestrator"
    entry = AuditEntry.objects.get(action="run_start")
    assert entry.actor_name == "opal" and entry.source == "127.0.0.1"


def test_a_run_of_a_version_that_does_not_exist_is_404(world: World) -> None:
    response = api(world, "operator").post(f"{PB}/runs/", {"version": 7})
    assert response.status_code == 404
    assert response.json()["detail"] == "playbook checkout-partition has no version 7"


def test_abort_is_a_compare_and_set_with_one_audit_entry(world: World) -> None:
    run = make_run(world.version, world.operator, state="observing")
    operator = api(world, "operator")
    first = operator.post(f"/api/v1/runs/{run.id}/abort/", {"reason": "pipeline cancelled"})
    assert first.status_code == 200
    assert first.json()["run"]["abort_requested"] is True
    run.refresh_from_db()
    assert run.abort_reason == "aborted by opal: pipeline cancelled"
    again = operator.post(f"/api/v1/runs/{run.id}/abort/")
    assert again.status_code == 409
    assert again.json() == {"detail": f"an abort of run {run.id} was already requested"}
    assert AuditEntry.objects.filter(action="run_abort").count() == 1


def test_resume_counts_and_a_finished_run_cannot_be_resumed(world: World) -> None:
    run = make_run(world.version, world.operator, state="observing")
    operator = api(world, "operator")
    assert operator.post(f"/api/v1/runs/{run.id}/resume/").status_code == 200
    run.refresh_from_db()
    assert run.resumes == 1
    DrillRun.objects.filter(id=run.id).update(state="passed")
    refused = operator.post(f"/api/v1/runs/{run.id}/resume/")
    assert refused.status_code == 409 and "already finished" in refused.json()["detail"]


@pytest.fixture
def protected(world: World, hosts: None) -> None:
    Host.objects.filter(name="db1").update(protected=True)


def test_approval_by_api_is_another_person_s_and_names_the_version(
    world: World, protected: None, queue: OrchestratorQueue
) -> None:
    started = api(world, "operator").post(f"{PB}/runs/")
    assert started.json()["state"] == "awaiting_approval"
    run_id = started.json()["id"]
    shown = {"version": 1, "content_hash": world.version.content_hash}
    admin = api(world, "admin")
    wrong = admin.post(f"/api/v1/runs/{run_id}/approve/", {**shown, "version": 2})
    assert wrong.status_code == 409 and "you were shown v2" in wrong.json()["detail"]
    approved = api(world, "approver").post(f"/api/v1/runs/{run_id}/approve/", shown)
    assert approved.status_code == 200
    assert approved.json()["run"]["state"] == "pending"
    assert approved.json()["detail"] == "Approved: checkout-partition v1 runs now."
    late = admin.post(f"/api/v1/runs/{run_id}/approve/", shown)
    assert late.status_code == 409 and "already approved by april" in late.json()["detail"]


def test_the_starter_may_not_approve_their_own_run(
    world: World, protected: None, queue: OrchestratorQueue
) -> None:
    admin = api(world, "admin")
    run_id = admin.post(f"{PB}/runs/").json()["id"]
    shown = {"version": 1, "content_hash": world.version.content_hash}
    refused = admin.post(f"/api/v1/runs/{run_id}/approve/", shown)
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith(f"you started run {run_id}")


def _events(run: DrillRun, count: int) -> None:
    for seq in range(1, count + 1):
        RunEvent.objects.create(
            run=run, seq=seq, type="state", t=1000.0 + seq, data={"state": "baseline"}
        )


def test_events_are_paged_after_a_sequence_number_with_sentences(world: World) -> None:
    run = make_run(world.version, world.operator, state="observing")
    _events(run, 5)
    viewer = api(world, "viewer")
    page = viewer.get(f"/api/v1/runs/{run.id}/events/", after=1, limit=2).json()
    assert [e["seq"] for e in page["events"]] == [2, 3]
    assert page["more"] is True and page["last_seq"] == 3
    assert page["events"][0]["text"] == "state: baseline"
    rest = viewer.get(f"/api/v1/runs/{run.id}/events/", after=page["last_seq"]).json()
    assert [e["seq"] for e in rest["events"]] == [4, 5] and rest["more"] is False


def test_events_long_poll_waits_for_a_new_one_up_to_the_bound(world: World) -> None:
    run = make_run(world.version, world.operator, state="observing")
    viewer = api(world, "viewer")
    began = time.monotonic()
    empty = viewer.get(f"/api/v1/runs/{run.id}/events/", wait=0.6).json()
    waited = time.monotonic() - began
    assert empty["events"] == [] and empty["last_seq"] == 0
    assert 0.5 <= waited < 3, waited
    too_long = viewer.get(f"/api/v1/runs/{run.id}/events/", wait=3600)
    assert too_long.status_code == 400 and too_long.json()["fields"] == {
        "wait": ["Ensure this value is less than or equal to 30.0."]
    }


def test_events_of_a_finished_run_answer_at_once_even_when_asked_to_wait(world: World) -> None:
    run = make_run(world.version, world.operator, state="passed")
    began = time.monotonic()
    answer = api(world, "viewer").get(f"/api/v1/runs/{run.id}/events/", wait=10).json()
    assert time.monotonic() - began < 2 and answer["finished"] is True


@pytest.mark.parametrize("fmt", report_files.FORMATS)
def test_a_run_s_report_comes_in_every_format_the_server_renders(world: World, fmt: str) -> None:
    run = make_run(world.version, world.operator, state="passed")
    _events(run, 2)
    response = api(world, "viewer").get(f"/api/v1/runs/{run.id}/report/{fmt}/")
    if fmt not in report_files.available():
        assert response.status_code == 404
        assert response.json()["detail"].startswith(f"this server does not render {fmt}")
        return
    assert response.status_code == 200
    assert f"checkout-partition-run-{run.id}" in response["Content-Disposition"]
    if fmt == "json":  # the report model (schema/report.schema.json)
        assert json.loads(response.content)["run_id"] == run.id
    if fmt == "html":
        assert response["Content-Type"].startswith("text/html")


def test_an_unknown_report_format_is_404_naming_the_formats(world: World) -> None:
    run = make_run(world.version, world.operator, state="passed")
    response = api(world, "viewer").get(f"/api/v1/runs/{run.id}/report/docx/")
    assert response.status_code == 404
    assert response.json()["detail"] == "no report format docx; the formats are " + ", ".join(
        report_files.FORMATS
    )


def test_runs_list_only_what_the_person_may_see(world: World) -> None:
    run = make_run(world.version, world.operator)
    assert [r["id"] for r in api(world, "viewer").get("/api/v1/runs/").json()] == [run.id]
    assert api(world, "outsider").get("/api/v1/runs/").json() == []
    hidden = api(world, "outsider").get(f"/api/v1/runs/{run.id}/")
    assert hidden.status_code == 404 and hidden.json() == {"detail": "No such run"}


# -- errors ---------------------------------------------------------------------------------------


def test_errors_are_json_sentences_never_pages_or_reprs(world: World) -> None:
    operator = api(world, "operator")
    bad_json = operator.client.post(
        "/api/v1/validate/", "{not json", content_type="application/json", headers=operator.headers
    )
    assert bad_json.status_code == 400 and bad_json.json()["detail"].startswith("JSON parse error")
    missing = operator.post("/api/v1/validate/", {})
    assert missing.json()["detail"] == "content: This field is required."
    wrong_method = operator.client.delete("/api/v1/runs/", headers=operator.headers)
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"detail": 'Method "DELETE" not allowed.'}
    limit = operator.get("/api/v1/runs/", limit="many")
    assert limit.json() == {
        "detail": "limit: A valid integer is required.",
        "fields": {"limit": ["A valid integer is required."]},
    }


# -- game days ------------------------------------------------------------------------------------


def test_an_operator_starts_and_stops_a_game_day(
    world: World, gd: GameDayScene, queue: OrchestratorQueue
) -> None:
    operator = api(world, "operator")
    started = operator.post(f"/api/v1/gamedays/{gd.idle.name}/start/")
    assert started.status_code == 201
    run = started.json()
    assert (run["gameday"], run["state"], run["source"]) == ("idle-day", "running", "api")
    again = operator.post(f"/api/v1/gamedays/{gd.idle.name}/start/")
    assert again.status_code == 409
    assert f"run {run['id']} of game day idle-day still runs" in again.json()["detail"]
    stopped = operator.post(f"/api/v1/gameday-runs/{run['id']}/stop/")
    assert stopped.status_code == 200 and stopped.json()["gameday_run"]["stop_requested"]
    assert operator.post(f"/api/v1/gameday-runs/{run['id']}/stop/").status_code == 409
    actions = AuditEntry.objects.filter(object_type="gameday_run").values_list("action", flat=True)
    assert sorted(actions) == ["gameday_start", "gameday_stop"]


def test_a_game_day_run_lists_its_drills(world: World, gd: GameDayScene) -> None:
    answer = api(world, "viewer").get(f"/api/v1/gameday-runs/{gd.run.id}/").json()
    assert answer["drills"] == [
        {"position": 0, "run": gd.drill.id, "playbook": "checkout-partition", "state": "observing"}
    ]
    assert [
        r["id"] for r in api(world, "viewer").get("/api/v1/gamedays/team-day/runs/").json()
    ] == [gd.run.id]


# -- inventory and halt ---------------------------------------------------------------------------


def test_the_inventory_is_read_by_those_who_may_plan(world: World, hosts: None) -> None:
    refused = api(world, "viewer").get("/api/v1/hosts/")
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("The inventory is what plans show")
    hosts_seen = api(world, "operator").get("/api/v1/hosts/").json()
    assert [h["name"] for h in hosts_seen] == ["db1", "web"]
    assert api(world, "author").get("/api/v1/hosts/db1/").json()["address"] == "10.77.0.3"
    assert api(world, "author").get("/api/v1/hosts/nope/").status_code == 404


@pytest.fixture
def halt_redis(needs_redis: str, settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = needs_redis
    forget_redis(needs_redis)
    yield
    forget_redis(needs_redis)


def test_anyone_halts_and_only_an_admin_releases(world: World, halt_redis: None) -> None:
    outsider = api(world, "outsider")
    assert outsider.get("/api/v1/halt/").json()["halted"] is False
    halted = outsider.post("/api/v1/halt/", {"reason": "checkout is down"})
    assert halted.status_code == 201
    assert halted.json()["halted"] is True and halted.json()["reason"] == "checkout is down"
    assert outsider.post("/api/v1/halt/").status_code == 200  # already halted
    refused = api(world, "operator").post("/api/v1/halt/release/")
    assert refused.status_code == 403 and refused.json() == {
        "detail": "Only an admin may release a halt."
    }
    released = api(world, "admin").post("/api/v1/halt/release/")
    assert released.status_code == 200 and released.json()["halted"] is False
    audited = AuditEntry.objects.filter(action__in=["halt", "release"]).order_by("id")
    assert [(e.action, e.actor_name) for e in audited] == [("halt", "otto"), ("release", "ada")]
