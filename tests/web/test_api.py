"""The editor's JSON API: validate, plan, versions, and the public JSON Schema."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from drills.web.hosts import register_host
from tests.web.personas import PLAYBOOK_YAML, World

GOOD = PLAYBOOK_YAML.read_text()
MISSPELT = GOOD.replace("    duration: 10s", "    duraton: 10s")
MISSPELT_LINE = MISSPELT.splitlines().index("    duraton: 10s") + 1


def post(client: Client, url_name: str, body: object) -> tuple[int, dict]:
    response = client.post(reverse(url_name), json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


@pytest.fixture
def lab_hosts(db) -> None:  # type: ignore[no-untyped-def]
    register_host("web", "10.77.0.2")
    register_host("db1", "10.77.0.3")


def test_validate_marks_a_misspelt_key_at_its_line_with_a_hint(client, world: World):
    client.force_login(world.member)
    status, body = post(client, "api-validate", {"content": MISSPELT})
    assert status == 200
    assert body["ok"] is False
    assert body["plan"] is None
    hits = [i for i in body["issues"] if "duraton" in i["message"]]
    assert len(hits) == 1
    assert hits[0]["line"] == MISSPELT_LINE
    assert hits[0]["column"] == 5
    assert "duration" in (hits[0]["hint"] or "")


def test_validate_returns_the_plan_of_a_valid_playbook(client, world: World, lab_hosts):
    client.force_login(world.owner)
    status, body = post(client, "api-validate", {"content": GOOD, "filename": "x.yaml"})
    assert status == 200
    assert body["ok"] is True
    assert body["issues"] == []
    assert body["plan_problems"] == []
    steps = body["plan"]["steps"]
    fault = next(s for s in steps if s["kind"] == "fault")
    assert fault["faults"][0]["kind"] == "network.partition"
    assert fault["faults"][0]["host"] == "db1"
    assert fault["start"] == pytest.approx(5.0)
    assert fault["duration"] == pytest.approx(10.0)
    assert "db1" in body["plan"]["blast_radius"]["hosts"]


def test_validate_reports_what_the_planner_cannot_resolve(client, world: World):
    client.force_login(world.owner)
    status, body = post(client, "api-validate", {"content": GOOD})
    assert status == 200
    assert body["ok"] is True  # the text is valid; only this inventory cannot run it
    assert body["plan"] is None
    assert any("db1" in p for p in body["plan_problems"])


def test_validate_shows_the_issue_the_command_line_prints_for_a_drill_over_its_limit(
    client, world: World, lab_hosts
):
    # The editor and `drillhall validate` share the parser: same line, column and sentence,
    # and the inventory (which could resolve every host here) is not even asked.
    client.force_login(world.member)
    too_long = GOOD.replace("duration: 10s", "duration: 2h") + "limits: {max_duration: 1m}\n"
    status, body = post(client, "api-validate", {"content": too_long, "filename": "pb.yaml"})
    assert status == 200
    assert (body["ok"], body["plan"], body["plan_problems"]) == (False, None, [])
    assert body["issues"] == [
        {
            "line": too_long.splitlines().index("    duration: 2h") + 1,
            "column": 15,
            "message": "the fault network.partition lasts 2h, longer than limits.max_duration (1m)",
            "hint": "shorten the steps or raise limits.max_duration",
        }
    ]


def test_validate_flags_a_name_that_is_not_the_playbooks(client, world: World):
    client.force_login(world.owner)
    renamed = GOOD.replace("name: checkout-partition", "name: something-else")
    _, body = post(client, "api-validate", {"content": renamed, "playbook": "checkout-partition"})
    assert body["ok"] is False
    (issue,) = body["issues"]
    assert issue["line"] == renamed.splitlines().index("  name: something-else") + 1
    assert "something-else" in issue["message"]


def test_validate_answers_garbage_with_issues_not_an_error(client, world: World):
    client.force_login(world.owner)
    for content in ["", "- [", "a: &x 1\nb: *x\n", "\x00\x01", "steps: {{{{"]:
        status, body = post(client, "api-validate", {"content": content})
        assert status == 200, content
        assert body["ok"] is False
        assert body["issues"], content


def test_validate_rejects_a_body_that_is_not_the_expected_json(client, world: World):
    client.force_login(world.owner)
    response = client.post(reverse("api-validate"), "nope", content_type="application/json")
    assert response.status_code == 400
    status, _ = post(client, "api-validate", {"text": GOOD})
    assert status == 400


def test_validate_needs_a_login(client, world: World):
    status, body = post(client, "api-validate", {"content": GOOD})
    assert status == 401
    assert body == {"error": "login required"}


def test_validate_needs_the_csrf_token(world: World):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.owner)
    response = client.post(
        reverse("api-validate"), json.dumps({"content": GOOD}), content_type="application/json"
    )
    assert response.status_code == 403


def test_validate_refuses_get(client, world: World):
    client.force_login(world.owner)
    assert client.get(reverse("api-validate")).status_code == 405


def test_plan_returns_the_plan_or_422_with_problems(client, world: World):
    client.force_login(world.owner)
    status, body = post(client, "api-plan", {"content": GOOD})
    assert status == 422
    assert body["plan"] is None and body["plan_problems"]
    register_host("web", "10.77.0.2")
    register_host("db1", "10.77.0.3")
    status, body = post(client, "api-plan", {"content": GOOD})
    assert status == 200
    assert [s["kind"] for s in body["plan"]["steps"]] == ["wait", "fault"]


def test_plan_of_an_invalid_playbook_lists_its_issues(client, world: World):
    client.force_login(world.owner)
    status, body = post(client, "api-plan", {"content": MISSPELT})
    assert status == 422
    assert any(i["line"] == MISSPELT_LINE for i in body["issues"])


def test_versions_api_lists_versions_newest_first(client, world: World):
    world.playbook.save_version(GOOD + "# two\n", author=world.member, message="second")
    client.force_login(world.member)
    response = client.get(reverse("api-playbook-versions", args=["checkout-partition"]))
    assert response.status_code == 200
    versions = response.json()["versions"]
    assert [v["number"] for v in versions] == [2, 1]
    assert versions[0]["author"] == "max"
    assert versions[0]["message"] == "second"
    assert len(versions[0]["content_hash"]) == 64
    assert versions[1]["message"] == "first"


def test_versions_api_is_404_for_an_outsider_and_401_for_anonymous(client, world: World):
    url = reverse("api-playbook-versions", args=["checkout-partition"])
    assert client.get(url).status_code == 401
    client.force_login(world.outsider)
    assert client.get(url).status_code == 404


def test_schema_is_served_without_login_as_schema_json(client, db):
    response = client.get(reverse("playbook-schema"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/schema+json"
    schema = json.loads(response.content)
    assert "steps" in schema["properties"]
    assert "network.partition" in response.content.decode()


def test_schema_url_is_stable():
    assert reverse("playbook-schema") == "/schema/playbook.json"
