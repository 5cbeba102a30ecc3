"""The editor pages: edit a playbook into a new version, and a new playbook from a template."""

from __future__ import annotations

import re

from django.urls import reverse

from drills.web.models import Playbook
from tests.web.personas import PLAYBOOK_YAML, World

GOOD = PLAYBOOK_YAML.read_text()
EDITED = GOOD.replace("duration: 10s", "duration: 20s")
MISSPELT = GOOD.replace("    duration: 10s", "    duraton: 10s")
EDIT = reverse("playbook-edit", args=["checkout-partition"])


def problem_lines(html: str) -> list[int]:
    match = re.search(r'<ul id="problems"[^>]*>(.*?)</ul>', html, re.S)
    assert match, "no #problems list"
    return [int(n) for n in re.findall(r'data-line="(\d+)"', match.group(1))]


def test_edit_page_shows_the_latest_text_in_the_editor(client, world: World):
    client.force_login(world.member)
    response = client.get(EDIT)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="editor-source"' in html
    assert "name: checkout-partition" in html
    assert 'id="save-message"' in html and 'id="save-button"' in html
    assert 'id="plan"' in html and 'id="problems"' in html
    assert "vendor/editor.bundle.js" in html
    assert '"validateUrl": "/api/validate"' in html
    assert '"schemaUrl": "/schema/playbook.json"' in html


def test_edit_page_is_404_for_an_outsider_and_asks_anonymous_to_log_in(client, world: World):
    response = client.get(EDIT)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    client.force_login(world.outsider)
    assert client.get(EDIT).status_code == 404
    response = client.post(EDIT, {"content": EDITED, "message": "sneaky"})
    assert response.status_code == 404
    assert world.playbook.versions.count() == 1


def test_save_creates_the_next_version_with_the_message(client, world: World):
    client.force_login(world.member)
    response = client.post(EDIT, {"content": EDITED, "message": "longer partition"})
    assert response.status_code == 302
    assert response["Location"] == EDIT
    latest = world.playbook.latest_version()
    assert latest.number == world.version.number + 1
    assert latest.content == EDITED
    assert latest.message == "longer partition"
    assert latest.author == world.member
    assert "Saved v2." in client.get(EDIT).content.decode()


def test_save_stores_lf_line_endings_from_a_browser_textarea(client, world: World):
    client.force_login(world.owner)
    client.post(EDIT, {"content": EDITED.replace("\n", "\r\n"), "message": "crlf"})
    assert world.playbook.latest_version().content == EDITED


def test_invalid_content_is_not_saved_and_its_problems_are_shown(client, world: World):
    client.force_login(world.owner)
    response = client.post(EDIT, {"content": MISSPELT, "message": "typo"})
    assert response.status_code == 400
    assert world.playbook.versions.count() == 1
    html = response.content.decode()
    line = MISSPELT.splitlines().index("    duraton: 10s") + 1
    assert line in problem_lines(html)
    assert "unknown key &#x27;duraton&#x27;" in html
    # The author's text and message come back, not the stored version.
    assert "duraton: 10s" in html
    assert 'value="typo"' in html


def test_saving_a_playbook_under_another_name_is_refused(client, world: World):
    client.force_login(world.owner)
    renamed = GOOD.replace("name: checkout-partition", "name: checkout-renamed")
    response = client.post(EDIT, {"content": renamed, "message": "rename"})
    assert response.status_code == 400
    assert problem_lines(response.content.decode()) == [4]
    assert world.playbook.versions.count() == 1
    assert not Playbook.objects.filter(name="checkout-renamed").exists()


def test_saving_the_same_text_makes_no_new_version(client, world: World):
    client.force_login(world.owner)
    client.post(EDIT, {"content": GOOD, "message": "nothing"})
    assert world.playbook.versions.count() == 1
    assert "No changes: v1 is still the latest." in client.get(EDIT).content.decode()


def test_new_page_offers_the_examples_with_their_descriptions(client, world: World):
    client.force_login(world.author)
    html = client.get(reverse("playbook-new")).content.decode()
    assert 'id="templates"' in html
    assert 'data-template="partition-demo"' in html
    assert "Cut the Redis host (db1) off from the web host" in html
    assert "?template=partition-demo" in html


def test_new_from_a_template_starts_with_its_text(client, world: World):
    client.force_login(world.owner)
    html = client.get(reverse("playbook-new") + "?template=partition-demo").content.decode()
    assert "name: partition-demo" in html
    html = client.get(reverse("playbook-new") + "?template=../etc/passwd").content.decode()
    assert "name: my-drill" in html


def test_new_playbook_is_named_by_its_metadata_and_owned_by_its_author(client, world: World):
    client.force_login(world.member)
    text = GOOD.replace("name: checkout-partition", "name: checkout-latency")
    response = client.post(reverse("playbook-new"), {"content": text, "message": "start"})
    assert response.status_code == 302
    assert response["Location"] == reverse("playbook-edit", args=["checkout-latency"])
    playbook = Playbook.objects.get(name="checkout-latency")
    assert playbook.owner == world.member
    # metadata.owner names a team where the author is an author: the playbook goes there.
    assert playbook.team == world.team
    version = playbook.latest_version()
    assert (version.number, version.content, version.message) == (1, text, "start")
    client.force_login(world.outsider)
    assert client.get(reverse("playbook-edit", args=["checkout-latency"])).status_code == 404


def test_new_playbook_with_a_taken_or_reserved_name_is_refused(client, world: World):
    client.force_login(world.author)
    response = client.post(reverse("playbook-new"), {"content": GOOD, "message": "steal"})
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert world.playbook.versions.count() == 1
    assert world.playbook.owner == world.owner
    reserved = GOOD.replace("name: checkout-partition", "name: new")
    response = client.post(reverse("playbook-new"), {"content": reserved, "message": "x"})
    assert response.status_code == 400
    assert not Playbook.objects.filter(name="new").exists()


def test_new_invalid_playbook_is_not_created(client, world: World):
    client.force_login(world.owner)
    text = MISSPELT.replace("name: checkout-partition", "name: typo-drill")
    response = client.post(reverse("playbook-new"), {"content": text, "message": "x"})
    assert response.status_code == 400
    assert not Playbook.objects.filter(name="typo-drill").exists()


def test_list_and_detail_link_to_new_edit_and_history(client, world: World):
    client.force_login(world.owner)
    html = client.get(reverse("playbook-list")).content.decode()
    assert f'href="{reverse("playbook-new")}"' in html
    html = client.get(reverse("playbook-detail", args=["checkout-partition"])).content.decode()
    assert f'href="{EDIT}"' in html
    assert f'href="{reverse("playbook-versions", args=["checkout-partition"])}"' in html
