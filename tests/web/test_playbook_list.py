from __future__ import annotations

from django.urls import reverse

from drills.web.models import Playbook
from tests.web.personas import World, make_run


def rows(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.name for p in response.context["playbooks"]]


def test_it_lists_the_owners_playbook(client, world: World):
    Playbook.objects.create(name="someone-elses", owner=world.outsider)
    client.force_login(world.owner)
    response = client.get(reverse("playbook-list"))
    assert rows(response) == ["checkout-partition"]
    assert b'data-playbook="checkout-partition"' in response.content
    assert b"someone-elses" not in response.content


def test_it_lists_the_teams_playbook_for_a_member(client, world: World):
    client.force_login(world.member)
    assert rows(client.get(reverse("playbook-list"))) == ["checkout-partition"]


def test_it_lists_nothing_for_an_outsider(client, world: World):
    client.force_login(world.outsider)
    response = client.get(reverse("playbook-list"))
    assert rows(response) == []
    assert b"checkout-partition" not in response.content


def test_it_shows_the_latest_version_and_the_last_runs_state(client, world: World):
    make_run(world.version, state="failed")
    world.playbook.save_version(world.version.content + "\n# tweaked\n", author=world.owner)
    make_run(world.playbook.latest_version(), state="passed")
    client.force_login(world.member)
    response = client.get(reverse("playbook-list"))
    (row,) = response.context["playbooks"]
    assert row.latest_number == 2
    assert row.last_run_state == "passed"
    assert b"v2" in response.content
    assert b'class="badge state-passed"' in response.content
