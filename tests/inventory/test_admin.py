"""Hosts are edited in the Django admin: labels, protected, and services inline."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from drills.web.hosts import ServiceSpec, register_host
from drills.web.models import Host
from drills.web.models.inventory import Service

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(settings) -> Client:  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(User.objects.get(username="root"))
    return client


def test_admin_edits_labels_protected_and_services(admin_client_: Client) -> None:
    host = register_host(
        "db1", "10.77.0.3", "dh-db1", services=[ServiceSpec("redis", 6379, "redis")]
    )
    url = f"/admin/drills/host/{host.pk}/change/"
    page = admin_client_.get(url)
    assert page.status_code == 200
    assert b'name="labels"' in page.content and b'name="protected"' in page.content
    assert b'name="services-0-port"' in page.content  # the inline

    redis = Service.objects.get(host=host)
    form = {
        "name": "db1",
        "address": "10.77.0.3",
        "agent_queue": "agent.db1",
        "netns": "dh-db1",
        "labels": '{"role": "db", "tier": "1"}',
        "protected": "on",
        "services-TOTAL_FORMS": "2",
        "services-INITIAL_FORMS": "1",
        "services-MIN_NUM_FORMS": "0",
        "services-MAX_NUM_FORMS": "1000",
        "services-0-id": str(redis.pk),
        "services-0-host": str(host.pk),
        "services-0-name": "redis",
        "services-0-port": "6380",
        "services-0-kind": "redis",
        "services-1-host": str(host.pk),
        "services-1-name": "sentinel",
        "services-1-port": "26379",
        "services-1-kind": "redis-sentinel",
    }
    response = admin_client_.post(url, form)
    assert response.status_code == 302, response.content[:2000]
    host.refresh_from_db()
    assert host.protected is True
    assert host.labels == {"role": "db", "tier": "1"}
    assert {(s.name, s.port) for s in host.services.all()} == {("redis", 6380), ("sentinel", 26379)}


def test_admin_refuses_a_port_out_of_range(admin_client_: Client) -> None:
    host = register_host("web", "10.77.0.2")
    form = {
        "name": "web", "address": "10.77.0.2", "agent_queue": "agent.web", "labels": "{}",
        "services-TOTAL_FORMS": "1", "services-INITIAL_FORMS": "0",
        "services-MIN_NUM_FORMS": "0", "services-MAX_NUM_FORMS": "1000",
        "services-0-host": str(host.pk), "services-0-name": "app", "services-0-port": "70000",
    }  # fmt: skip
    response = admin_client_.post(f"/admin/drills/host/{host.pk}/change/", form)
    assert response.status_code == 200  # the form again, with the error
    assert not Service.objects.exists()
    assert Host.objects.get(name="web").labels == {}


def test_admin_never_stores_an_address_with_a_scope(admin_client_: Client) -> None:
    host = register_host("web", "10.77.0.2")
    form = {
        "name": "web", "address": "fe80::1%eth0", "agent_queue": "agent.web", "labels": "{}",
        "services-TOTAL_FORMS": "0", "services-INITIAL_FORMS": "0",
        "services-MIN_NUM_FORMS": "0", "services-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    admin_client_.post(f"/admin/drills/host/{host.pk}/change/", form)
    # Django's address field keeps the address and drops the interface; no rule sees a scope.
    assert "%" not in Host.objects.get(name="web").address
