from __future__ import annotations

from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse

from drills.engine.plan import Plan
from drills.web.hosts import register_host
from drills.web.models import DrillRun, Host, Playbook
from tests.web.personas import World


@pytest.fixture
def enqueue():  # type: ignore[no-untyped-def]
    # The view goes through the real start_run; only the hand-off to the broker is faked.
    with mock.patch("drills.web.tasks.run_drill.apply_async") as apply_async:
        yield apply_async


@pytest.fixture
def inventory(world: World) -> None:
    register_host("web", "10.77.0.2", "dh-web")
    register_host("db1", "10.77.0.3", "dh-db1")


def test_it_creates_a_run_of_the_latest_version_and_enqueues_it(
    client, world: World, inventory, enqueue
):
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
    assert run.enqueued_at is not None


def test_the_plan_is_resolved_once_and_stored_with_the_run(
    client, world: World, inventory, enqueue
):
    client.force_login(world.member)
    client.post(reverse("playbook-run", args=["checkout-partition"]))
    run = DrillRun.objects.get()
    plan = Plan.from_dict(run.plan)
    assert [(f.kind, f.host) for _, f in plan.faults()] == [("network.partition", "db1")]
    # What the orchestrator will read, whatever the inventory says by then.
    Host.objects.filter(name="db1").update(address="10.77.0.99")
    assert Plan.from_dict(DrillRun.objects.get().plan) == plan


def test_a_refused_plan_is_a_run_that_ended_in_error_with_the_reason(client, world: World, enqueue):
    client.force_login(world.member)
    client.post(reverse("playbook-run", args=["checkout-partition"]))  # no inventory at all
    run = DrillRun.objects.get()
    events = [(e.seq, e.type, e.data) for e in run.events.order_by("seq")]
    assert [(seq, type) for seq, type, _ in events] == [(1, "error"), (2, "state"), (3, "result")]
    # One record: the row says what the stream says.
    assert run.state == "error" and run.finished_at is not None
    assert run.result == events[2][2] and run.result["state"] == "error"
    assert run.result["reason"].startswith("the plan was refused: target")
    assert "not in the inventory" in run.result["reason"]
    enqueue.assert_not_called()


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
    Playbook.objects.create(name="empty", owner=world.owner, team=world.team)
    client.force_login(world.owner)
    response = client.post(reverse("playbook-run", args=["empty"]))
    assert response.status_code == 302
    assert response["Location"] == reverse("playbook-detail", args=["empty"])
    assert not DrillRun.objects.exists()
