"""History, diff and restore of a playbook's versions."""

from __future__ import annotations

import re

from django.urls import reverse

from drills.web.views.version_pages import DiffLine, line_diff
from tests.web.personas import PLAYBOOK_YAML, World

GOOD = PLAYBOOK_YAML.read_text()
LONGER = GOOD.replace("duration: 10s", "duration: 20s")
HISTORY = reverse("playbook-versions", args=["checkout-partition"])


def rows(html: str, kind: str) -> list[str]:
    pattern = rf'<tr class="diff-{kind}"[^>]*>.*?<td class="code">(.*?)</td>'
    return [re.sub(r"<[^>]+>", "", m).strip() for m in re.findall(pattern, html, re.S)]


def test_history_lists_each_version_with_author_message_and_hash(client, world: World):
    v2 = world.playbook.save_version(LONGER, author=world.member, message="longer partition")
    client.force_login(world.member)
    response = client.get(HISTORY)
    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r'data-version="(\d+)"', html) == ["2", "1"]
    assert "longer partition" in html and "first" in html
    assert "max" in html and "olive" in html
    assert v2.content_hash[:12] in html
    # Restore is offered for older versions only.
    assert 'id="restore-1-button"' in html
    assert 'id="restore-2-button"' not in html


def test_history_is_404_for_an_outsider(client, world: World):
    client.force_login(world.outsider)
    assert client.get(HISTORY).status_code == 404


def test_diff_shows_removed_and_added_lines(client, world: World):
    world.playbook.save_version(LONGER, author=world.owner, message="longer")
    client.force_login(world.owner)
    response = client.get(reverse("playbook-diff", args=["checkout-partition", 1, 2]))
    assert response.status_code == 200
    html = response.content.decode()
    assert rows(html, "del") == ["-    duration: 10s"]
    assert rows(html, "add") == ["+    duration: 20s"]
    assert "1 line added, 1 removed" in html


def test_diff_of_an_unknown_version_is_404_and_outsiders_get_404(client, world: World):
    client.force_login(world.owner)
    assert (
        client.get(reverse("playbook-diff", args=["checkout-partition", 1, 9])).status_code == 404
    )
    client.force_login(world.outsider)
    assert (
        client.get(reverse("playbook-diff", args=["checkout-partition", 1, 1])).status_code == 404
    )


def test_diff_form_redirects_to_the_stable_diff_url(client, world: World):
    client.force_login(world.member)
    response = client.get(reverse("playbook-diff-pick", args=["checkout-partition"]) + "?a=1&b=2")
    assert response.status_code == 302
    assert response["Location"] == reverse("playbook-diff", args=["checkout-partition", 1, 2])
    response = client.get(reverse("playbook-diff-pick", args=["checkout-partition"]) + "?a=x")
    assert response["Location"] == HISTORY


def test_restore_saves_the_old_text_as_a_new_version(client, world: World):
    world.playbook.save_version(LONGER, author=world.owner, message="longer")
    client.force_login(world.member)
    response = client.post(reverse("playbook-restore", args=["checkout-partition", 1]))
    assert response.status_code == 302
    latest = world.playbook.latest_version()
    assert latest.number == 3
    assert latest.content == GOOD
    assert latest.message == "restore v1"
    assert latest.author == world.member
    # The versions in between are untouched.
    assert world.playbook.versions.get(number=2).content == LONGER


def test_restoring_the_latest_text_makes_no_version(client, world: World):
    client.force_login(world.owner)
    client.post(reverse("playbook-restore", args=["checkout-partition", 1]))
    assert world.playbook.versions.count() == 1


def test_restore_needs_post_and_access(client, world: World):
    world.playbook.save_version(LONGER, author=world.owner, message="longer")
    url = reverse("playbook-restore", args=["checkout-partition", 1])
    client.force_login(world.owner)
    assert client.get(url).status_code == 405
    client.force_login(world.outsider)
    assert client.post(url).status_code == 404
    assert world.playbook.versions.count() == 2


def test_line_diff_numbers_lines_and_leaves_out_far_context():
    old = "\n".join(f"line {n}" for n in range(1, 21))
    new = old.replace("line 2\n", "line two\n").replace("line 15\n", "line fifteen\n")
    diff = line_diff(old, new, context=1)
    kinds = [(d.kind, d.old, d.new) for d in diff]
    assert ("del", 2, None) in kinds and ("add", None, 2) in kinds
    assert ("del", 15, None) in kinds and ("add", None, 15) in kinds
    # Between the two hunks, and after the last one (lines 17 to 20 are left out).
    assert [d.kind for d in diff].count("gap") == 2
    assert diff[-1].kind == "gap" and diff[-2] == DiffLine("same", 16, 16, "line 16")
    assert ("same", 10, 10) not in kinds
    assert line_diff(old, old) == []
