"""The global kill switch: anyone signed in halts, only an admin releases; all see the banner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from drills.web.halt import current_halt, release
from drills.web.models import Host
from drills.web.roles import ADMIN_GROUP
from tests.web.personas import PASSWORD, World


@pytest.fixture
def halt_redis(needs_redis: str, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = needs_redis
    release()
    try:
        yield needs_redis
    finally:
        release()


@pytest.fixture
def staff(db) -> User:  # type: ignore[no-untyped-def]
    """An admin (the role, not Django's staff flag, which decides nothing any more)."""
    user = User.objects.create_user("sam", password=PASSWORD)
    user.groups.add(Group.objects.get(name=ADMIN_GROUP))
    return user


def test_it_halts_on_a_staff_post_and_shows_the_banner(
    client: Client, world: World, staff: User, halt_redis: str
) -> None:
    client.force_login(staff)
    response = client.post(reverse("halt-all"), {"reason": "db1 on fire"}, follow=True)
    assert response.status_code == 200
    halt = current_halt()
    assert halt is not None and halt.reason == "db1 on fire" and halt.by == "sam"
    page = response.content.decode()
    assert 'id="halt-banner"' in page and "db1 on fire" in page
    assert 'id="release-button"' in page


def test_it_tells_every_inventory_agent_queue(
    client: Client, world: World, staff: User, halt_redis: str
) -> None:
    from drillhall.celery import app

    Host.objects.create(name="h1", address="10.77.9.1", agent_queue="agent.h1")
    Host.objects.create(name="h2", address="10.77.9.2", agent_queue="agent.h2")
    client.force_login(staff)
    with app.connection_for_write() as conn:
        # Celery's Redis transport keeps a queue as a list named after it, in the broker.
        r = conn.default_channel.client
        r.delete("agent.h1", "agent.h2")
        try:
            client.post(reverse("halt-all"))
            assert r.llen("agent.h1") == 1 and r.llen("agent.h2") == 1
        finally:
            r.delete("agent.h1", "agent.h2")


def test_the_banner_shows_to_every_user_while_halted_without_controls(
    client: Client, world: World, staff: User, halt_redis: str
) -> None:
    client.force_login(staff)
    client.post(reverse("halt-all"), {"reason": "game day over"})
    client.force_login(world.member)
    page = client.get(reverse("playbook-list")).content.decode()
    assert 'id="halt-banner"' in page and "game day over" in page
    assert 'id="release-button"' not in page and 'id="halt-button"' not in page


def test_the_kill_switch_is_offered_to_every_signed_in_person(
    client: Client, world: World, halt_redis: str
) -> None:
    for user in (world.viewer, world.outsider, world.admin):
        client.force_login(user)
        page = client.get(reverse("playbook-list")).content.decode()
        assert 'id="halt-button"' in page and 'id="halt-banner"' not in page


def test_anyone_may_halt_but_only_an_admin_may_release(
    client: Client, world: World, halt_redis: str
) -> None:
    client.force_login(world.viewer)
    assert client.post(reverse("halt-all"), {"reason": "looks wrong"}).status_code == 302
    halt = current_halt()
    assert halt is not None and halt.by == "vera"
    page = client.get(reverse("playbook-list")).content.decode()
    assert 'id="halt-banner"' in page and 'id="release-button"' not in page
    for user in (world.viewer, world.operator, world.outsider):
        client.force_login(user)
        assert client.post(reverse("halt-release")).status_code == 403
        assert current_halt() is not None


def test_anonymous_users_are_sent_to_log_in(client: Client, halt_redis: str) -> None:
    response = client.post(reverse("halt-all"))
    assert response.status_code == 302 and "/login" in response["Location"]
    assert current_halt() is None


def test_release_lifts_the_halt_and_the_banner(
    client: Client, world: World, staff: User, halt_redis: str
) -> None:
    client.force_login(staff)
    client.post(reverse("halt-all"), {"reason": "x"})
    page = client.post(reverse("halt-release"), follow=True).content.decode()
    assert current_halt() is None
    assert 'id="halt-banner"' not in page and 'id="halt-button"' in page


def test_halt_is_post_only_and_needs_a_csrf_token(
    world: World, staff: User, halt_redis: str
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.get(reverse("halt-all")).status_code == 405
    assert client.post(reverse("halt-all")).status_code == 403
    assert current_halt() is None


def test_it_returns_only_to_a_local_page(
    client: Client, world: World, staff: User, halt_redis: str
) -> None:
    client.force_login(staff)
    response = client.post(reverse("halt-all"), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("playbook-list")
    response = client.post(reverse("halt-release"), {"next": "/playbooks/checkout-partition/"})
    assert response["Location"] == "/playbooks/checkout-partition/"
