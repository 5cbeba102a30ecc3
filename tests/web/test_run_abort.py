from __future__ import annotations

from django.test import Client
from django.urls import reverse

from tests.web.personas import World, make_run


def test_it_requests_an_abort_once(client, world: World):
    run = make_run(world.version, world.owner, state="observing")
    client.force_login(world.member)
    url = reverse("run-abort", args=[run.id])

    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("run-detail", args=[run.id])
    run.refresh_from_db()
    first = run.abort_requested_at
    assert first is not None
    assert run.abort_reason == "aborted by max"

    client.force_login(world.owner)
    client.post(url)
    run.refresh_from_db()
    assert run.abort_requested_at == first
    assert run.abort_reason == "aborted by max"


def test_it_does_not_abort_a_finished_run(client, world: World):
    run = make_run(world.version, world.owner, state="passed")
    client.force_login(world.owner)
    assert client.post(reverse("run-abort", args=[run.id])).status_code == 302
    run.refresh_from_db()
    assert run.abort_requested_at is None


def test_it_shows_the_requested_abort_on_the_page(client, world: World):
    run = make_run(world.version, world.owner, state="injecting")
    client.force_login(world.owner)
    page = client.post(reverse("run-abort", args=[run.id]), follow=True).content.decode()
    assert "Abort requested" in page
    assert 'id="abort-button" disabled' in page


def test_it_needs_a_csrf_token(world: World):
    run = make_run(world.version, world.owner, state="observing")
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.owner)
    assert client.post(reverse("run-abort", args=[run.id])).status_code == 403
    run.refresh_from_db()
    assert run.abort_requested_at is None


def test_it_is_404_for_an_outsider(client, world: World):
    run = make_run(world.version, world.owner, state="observing")
    client.force_login(world.outsider)
    assert client.post(reverse("run-abort", args=[run.id])).status_code == 404
    run.refresh_from_db()
    assert run.abort_requested_at is None
