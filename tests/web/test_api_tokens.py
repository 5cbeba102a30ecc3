"""API tokens: shown once, only a prefix and a hash kept, revocable, audited, last use noted;
the bearer header signs in as the token's person with that person's roles."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from drills.web.models import ApiToken, AuditEntry
from drills.web.token_issuing import LAST_USED_EVERY
from tests.web.api_client import ApiClient
from tests.web.personas import World

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r"dh_[A-Za-z0-9_-]{43}")


def make_on_page(client: Client, name: str = "ci-pipeline") -> str:
    page = client.post("/account/tokens/", {"name": name}).content.decode()
    found = TOKEN.findall(page)
    assert len(found) == 1, "the new token is on the page, once"
    return found[0]


@pytest.fixture
def signed_in(world: World) -> Client:
    client = Client()
    client.force_login(world.operator)
    return client


def test_it_shows_a_new_token_once_and_keeps_only_its_prefix_and_hash(
    signed_in: Client, world: World
) -> None:
    secret = make_on_page(signed_in)
    token = ApiToken.objects.get(user=world.operator)
    assert token.prefix == secret[: len(token.prefix)] and len(token.prefix) == 11
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    stored = [str(v) for v in ApiToken.objects.values().get()]
    stored += [str(v) for e in AuditEntry.objects.values() for v in e.values()]
    assert not any(secret in value for value in stored), "the token is stored nowhere"
    again = signed_in.get("/account/tokens/")
    assert secret not in again.content.decode() and token.prefix in again.content.decode()
    assert again["Cache-Control"] == "no-store"


def test_it_signs_in_as_the_token_s_person_with_their_roles(world: World) -> None:
    viewer = ApiClient(world.viewer)
    assert [p["name"] for p in viewer.get("/api/v1/playbooks/").json()] == ["checkout-partition"]
    refused = viewer.post("/api/v1/playbooks/checkout-partition/runs/")
    assert refused.status_code == 403
    assert "need the operator role in platform-team" in refused.json()["detail"]
    outsider = ApiClient(world.outsider)
    assert outsider.get("/api/v1/playbooks/").json() == []


def test_it_refuses_a_revoked_token_with_401(signed_in: Client, world: World) -> None:
    secret = make_on_page(signed_in)
    api = ApiClient(secret=secret)
    assert api.get("/api/v1/runs/").status_code == 200
    token = ApiToken.objects.get(user=world.operator)
    assert signed_in.post(f"/account/tokens/{token.id}/revoke").status_code == 302
    refused = api.get("/api/v1/runs/")
    assert refused.status_code == 401
    assert f"token {token.prefix}… was revoked" in refused.json()["detail"]
    assert refused["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer dh_" + "x" * 43, "Bearer not-a-token", "Bearer", "Bearer a b", "Bearer dh_short"],
)
def test_it_refuses_an_unknown_or_malformed_token_with_401(header: str, world: World) -> None:
    response = Client().get("/api/v1/runs/", headers={"Authorization": header})
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"detail"}


def test_it_refuses_anyone_without_credentials_with_401_naming_bearer(world: World) -> None:
    response = Client().get("/api/v1/playbooks/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="drillhall"'


def test_it_refuses_the_token_of_a_deactivated_person(world: World) -> None:
    api = ApiClient(world.operator)
    world.operator.is_active = False
    world.operator.save()
    assert api.get("/api/v1/runs/").status_code == 401


def test_it_notes_when_a_token_was_last_used(world: World) -> None:
    api = ApiClient(world.operator)
    token = ApiToken.objects.get(user=world.operator)
    assert token.last_used_at is None
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        api.get("/api/v1/runs/")
    token.refresh_from_db()
    assert token.last_used_at == start
    # Not a write per request: the next use within a minute leaves it.
    with time_machine.travel(start + LAST_USED_EVERY / 2, tick=False):
        api.get("/api/v1/runs/")
    token.refresh_from_db()
    assert token.last_used_at == start
    later = start + LAST_USED_EVERY * 2
    with time_machine.travel(later, tick=False):
        api.get("/api/v1/runs/")
    token.refresh_from_db()
    assert token.last_used_at == later


def test_it_audits_making_and_revoking_a_token(signed_in: Client, world: World) -> None:
    make_on_page(signed_in, "deploy job")
    token = ApiToken.objects.get(user=world.operator)
    signed_in.post(f"/account/tokens/{token.id}/revoke")
    signed_in.post(f"/account/tokens/{token.id}/revoke")  # already revoked: no second entry
    entries = list(AuditEntry.objects.filter(object_type="api_token").order_by("id"))
    assert [e.action for e in entries] == ["token_create", "token_revoke"]
    assert all(e.actor_name == "opal" and e.object_id == token.prefix for e in entries)
    assert entries[0].summary == f"created API token {token.prefix}… “deploy job” for opal"


def test_nobody_revokes_another_person_s_token(signed_in: Client, world: World) -> None:
    theirs = ApiClient(world.viewer)
    token = ApiToken.objects.get(user=world.viewer)
    assert signed_in.post(f"/account/tokens/{token.id}/revoke").status_code == 404
    assert theirs.get("/api/v1/runs/").status_code == 200
    assert b"dh_" not in signed_in.get("/account/tokens/").content


def test_a_token_request_needs_no_csrf_token_but_a_session_one_does(world: World) -> None:
    body = {"content": world.version.content}
    by_token = ApiClient(world.operator).post("/api/v1/validate/", body)
    assert by_token.status_code == 200
    session = Client(enforce_csrf_checks=True)
    session.force_login(world.operator)
    refused = session.post("/api/v1/validate/", body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]


def test_a_token_needs_a_name(signed_in: Client, world: World) -> None:
    response = signed_in.post("/account/tokens/", {"name": "   "}, follow=True)
    assert "Not made: give the token a name" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_manage_py_token_makes_prints_once_lists_and_revokes(world: World) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("token", "create", "--as", "opal", "ci", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    assert TOKEN.fullmatch(secret), "standard output is the token alone"
    assert "shown this once" in err.getvalue()
    assert ApiClient(secret=secret).get("/api/v1/runs/").status_code == 200
    listed = io.StringIO()
    call_command("token", "list", "--as", "opal", stdout=listed)
    assert secret[:11] in listed.getvalue() and secret not in listed.getvalue()
    call_command("token", "revoke", "--as", "opal", secret[:11], stdout=io.StringIO())
    assert ApiClient(secret=secret).get("/api/v1/runs/").status_code == 401
    entry = AuditEntry.objects.filter(action="token_create").get()
    assert entry.source == "cli"
