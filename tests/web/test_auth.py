from __future__ import annotations

import pytest
from django.urls import reverse

from tests.web.personas import PASSWORD, World, make_run


@pytest.mark.parametrize(
    ("method", "name", "kwargs"),
    [
        ("get", "playbook-list", {}),
        ("get", "playbook-detail", {"name": "checkout-partition"}),
        ("post", "playbook-run", {"name": "checkout-partition"}),
        ("get", "run-detail", {"run_id": 0}),
        ("post", "run-abort", {"run_id": 0}),
        ("get", "run-events", {"run_id": 0}),
    ],
)
def test_it_redirects_anonymous_users_to_login(client, world: World, method, name, kwargs):
    run = make_run(world.version)
    if "run_id" in kwargs:
        kwargs = {"run_id": run.id}
    url = reverse(name, kwargs=kwargs)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"
    run.refresh_from_db()
    assert run.abort_requested_at is None


def test_it_logs_in_with_the_login_form(client, world: World):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'name="username"' in page.content

    response = client.post(reverse("login"), {"username": "olive", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("playbook-list")
    assert client.get(reverse("playbook-list")).status_code == 200


def test_it_rejects_a_wrong_password(client, world: World):
    response = client.post(reverse("login"), {"username": "olive", "password": "nope"})
    assert response.status_code == 200
    assert b'id="login-error"' in response.content


def test_it_logs_out_with_a_post(client, world: World):
    client.force_login(world.owner)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("playbook-list")).status_code == 302
