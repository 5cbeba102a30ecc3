from __future__ import annotations

from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse

from drills.web.models import DrillRun, Playbook
from tests.web.personas import World


@pytest.fixture
def enqueue():  # type: ignore[no-untyped-def]
    # The view goes through the real start_run; only the hand-off to the broker is faked.
    with mock.patch("drills.web.tasks.run_drill.apply_async") as apply_async:
        yield apply_async


def test_it_creates_a_run_of_the_latest_version_and_enqueues_it(client, world: World, enqueue):
    latest = world.playbook.save_version(world.version.content + "\n# v2\n", author=world.owner)
    client.force_login(world.member)
    response = client.post(reverse("playbook-run", args=["checkout-partition"]))
    run = DrillRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("run-detail", args=[run.id])
    assert run.version == latest
    assert run.started_by == world.member
    assert run.source == "web"
    assert run.state == "pending"
    enqueue.assert_called_once_with(args=[run.key], queue="orchestrator", retry=False)


def test_it_refuses_a_get(client, world: World, enqueue):
    client.force_login(world.owner)
    assert client.get(reverse("playbook-run", args=["checkout-partition"])).status_code == 405
    assert not DrillRun.objects.exists()
    enqueue.assert_not_called()


def test_it_needs_a_csrf_token(world: World, enqueue):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.owner)
    assert client.post(reverse("playbook-run", args=["checkout-partition"])).status_code == 403
    assert not DrillRun.objects.exists()


def test_it_is_404_for_an_outsider(client, world: World, enqueue):
    client.force_login(world.outsider)
    assert client.post(reverse("playbook-run", args=["checkout-partition"])).status_code == 404
    assert not DrillRun.objects.exists()
    enqueue.assert_not_called()


def test_it_does_not_run_a_playbook_without_a_version(client, world: World, enqueue):
    Playbook.objects.create(name="empty", owner=world.owner)
    client.force_login(world.owner)
    response = client.post(reverse("playbook-run", args=["empty"]))
    assert response.status_code == 302
    assert response["Location"] == reverse("playbook-detail", args=["empty"])
    assert not DrillRun.objects.exists()
