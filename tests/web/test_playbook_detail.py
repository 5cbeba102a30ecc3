from __future__ import annotations

from django.urls import reverse

from tests.web.personas import World, make_run


def test_it_shows_the_latest_yaml_description_and_run_button(client, world: World):
    client.force_login(world.owner)
    response = client.get(reverse("playbook-detail", args=["checkout-partition"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<pre class="yaml" id="playbook-yaml">apiVersion: drillhall/v1' in html
    assert "Cut db1 off from the web tier" in html
    assert f'action="{reverse("playbook-run", args=["checkout-partition"])}"' in html
    assert 'id="run-button"' in html
    assert "csrfmiddlewaretoken" in html


def test_it_lists_recent_runs_with_their_states(client, world: World):
    run = make_run(world.version, world.owner, state="aborted")
    client.force_login(world.member)
    html = client.get(reverse("playbook-detail", args=["checkout-partition"])).content.decode()
    assert f'data-run="{run.id}"' in html
    assert '<span class="badge state-aborted">aborted</span>' in html


def test_it_escapes_the_yaml(client, world: World):
    world.playbook.save_version("# <script>alert(1)</script>\n", author=world.owner)
    client.force_login(world.owner)
    html = client.get(reverse("playbook-detail", args=["checkout-partition"])).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_it_is_404_for_an_outsider(client, world: World):
    client.force_login(world.outsider)
    response = client.get(reverse("playbook-detail", args=["checkout-partition"]))
    assert response.status_code == 404


def test_it_is_404_for_a_playbook_that_does_not_exist(client, world: World):
    client.force_login(world.owner)
    assert client.get(reverse("playbook-detail", args=["nope"])).status_code == 404
