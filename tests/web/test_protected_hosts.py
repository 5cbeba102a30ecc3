"""Faults on a protected host need an explicit approval from whoever starts the run."""

from __future__ import annotations

from unittest import mock

import pytest
from django.urls import reverse

from drills.web.hosts import register_host
from drills.web.models import DrillRun, Host
from tests.web.personas import World


@pytest.fixture
def enqueue():  # type: ignore[no-untyped-def]
    with mock.patch("drills.web.tasks.run_drill.apply_async") as apply_async:
        yield apply_async


@pytest.fixture
def inventory(world: World) -> None:
    register_host("web", "10.77.0.2", "dh-web")
    register_host("db1", "10.77.0.3", "dh-db1")


def test_playbook_page_asks_for_approval_only_when_a_target_is_protected(
    client, world: World, inventory
) -> None:  # type: ignore[no-untyped-def]
    client.force_login(world.owner)
    page = client.get(reverse("playbook-detail", args=["checkout-partition"]))
    assert 'id="approve-protected"' not in page.content.decode()
    Host.objects.filter(name="db1").update(protected=True)
    page = client.get(reverse("playbook-detail", args=["checkout-partition"]))
    assert 'id="approve-protected"' in page.content.decode()


def test_run_records_the_approval_given_with_the_run_button(
    client, world: World, inventory, enqueue
) -> None:  # type: ignore[no-untyped-def]
    Host.objects.filter(name="db1").update(protected=True)
    client.force_login(world.member)
    url = reverse("playbook-run", args=["checkout-partition"])
    client.post(url)
    client.post(url, {"approve_protected": "1"})
    runs = DrillRun.objects.order_by("id")
    assert [r.approved_protected for r in runs] == [False, True]
