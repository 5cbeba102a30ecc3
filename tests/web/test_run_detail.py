from __future__ import annotations

import re
import time

from django.urls import reverse

from tests.web.personas import World, make_run


def test_it_renders_the_live_page_elements(client, world: World):
    run = make_run(world.version, world.owner, state="observing")
    client.force_login(world.member)
    response = client.get(reverse("run-detail", args=[run.id]))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span id="run-state" class="badge big state-observing">observing</span>' in html
    assert 'id="event-log"' in html
    assert 'id="rto"' in html
    assert 'id="abort-button"' in html
    assert f'action="{reverse("run-abort", args=[run.id])}"' in html
    assert f'data-ws-path="/ws/runs/{run.id}/"' in html
    assert f'data-events-url="{reverse("run-events", args=[run.id])}"' in html
    assert "/static/vendor/uPlot.iife.min.js" in html
    assert "/static/drillhall/run.js" in html


def test_it_shows_steps_and_slas_of_the_pinned_version(client, world: World):
    run = make_run(world.version, world.owner)
    # A later edit must not change what the run page says the run does.
    world.playbook.save_version(world.version.content.replace("cut db1 off", "renamed"))
    client.force_login(world.owner)
    response = client.get(reverse("run-detail", args=[run.id]))
    outline = response.context["outline"]
    assert outline.error is None, outline.error
    assert [(s.kind, s.name) for s in outline.steps] == [("wait", ""), ("fault", "cut db1 off")]
    assert outline.steps[1].detail == "network.partition on db from web for 10s"
    assert outline.probes == ["checkout"]
    html = response.content.decode()
    assert 'data-step="2"' in html
    assert 'data-sla="checkout recovers" data-state="pending">pending</span>' in html


def test_it_shows_the_final_verdicts_and_rto_of_a_finished_run(client, world: World):
    run = make_run(world.version, world.owner, state="passed")
    run.result = {
        "state": "passed",
        "verdicts": {"checkout recovers": "passed"},
        "rto": 4.2,
        "rto_objective": 30.0,
        "reason": "all SLAs held",
    }
    run.save()
    client.force_login(world.owner)
    html = client.get(reverse("run-detail", args=[run.id])).content.decode()
    assert 'data-sla="checkout recovers" data-state="passed">passed</span>' in html
    assert '<strong id="rto">4.2 s</strong>' in html
    assert "all SLAs held" in html
    assert 'id="abort-button"' not in html


def test_it_still_renders_when_the_pinned_version_does_not_parse(client, world: World):
    version = world.playbook.save_version("steps: [this is: not: valid\n")
    run = make_run(version, world.owner)
    client.force_login(world.owner)
    response = client.get(reverse("run-detail", args=[run.id]))
    assert response.status_code == 200
    assert response.context["outline"].error
    assert b'id="playbook-error"' in response.content
    assert b'id="run-state"' in response.content


def test_it_is_404_for_an_outsider(client, world: World):
    run = make_run(world.version, world.owner)
    client.force_login(world.outsider)
    assert client.get(reverse("run-detail", args=[run.id])).status_code == 404


def test_it_names_the_canaries_and_the_server_time_for_the_live_counters(client, world: World):
    content = world.version.content.replace(
        "probes:\n",
        'probes:\n  - name: orders\n    canary: {redis: {address: "10.77.0.3:6379"}}\n',
    )
    version = world.playbook.save_version(content, author=world.owner)
    run = make_run(version, world.owner, state="observing")
    client.force_login(world.owner)
    before = time.time()
    response = client.get(reverse("run-detail", args=[run.id]))
    assert response.context["outline"].error is None, response.context["outline"].error
    html = response.content.decode()
    assert '<script id="run-canaries" type="application/json">["orders"]</script>' in html
    server_now = float(re.search(r'data-server-now="([0-9.]+)"', html).group(1))  # type: ignore[union-attr]
    assert before - 0.01 <= server_now <= time.time()


def test_it_shows_the_plan_stored_with_the_run_not_a_new_one(client, world: World):
    from drills.web.hosts import register_host
    from drills.web.models import Host
    from drills.web.run_control import create_run

    register_host("web", "10.77.0.2", "dh-web")
    register_host("db1", "10.77.0.3", "dh-db1")
    run = create_run(world.version, world.owner)
    Host.objects.filter(name="db1").delete()  # the inventory moved on; the run did not
    client.force_login(world.member)
    html = client.get(reverse("run-detail", args=[run.id])).content.decode()
    table = html.split('id="plan-table"', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r"<td>([^<]*)</td>", table)
    fault = cells.index("network.partition")
    assert cells[fault : fault + 3] == ["network.partition", "db1", "nftables"]
    assert "Blast radius: db1" in html
