"""Report downloads from the run page and the game day run page: every format, for whoever may
see the run, as an attachment; nobody else learns the run exists."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from drills.report.formats import FORMATS
from drills.web.models import DrillRun, Observation, RunEvent
from tests.report.fixtures import stored
from tests.web.gameday_scene import GameDayScene
from tests.web.personas import World, make_run


def stored_run(world: World) -> DrillRun:
    """The personas' playbook's run, holding the events of a real lab run."""
    doc = stored("redis-failover-run")
    run = make_run(world.version, world.operator, state="passed")
    run.result = doc["result"]
    run.plan = doc["plan"]
    run.save()
    RunEvent.objects.bulk_create(
        RunEvent(run=run, seq=e["seq"], type=e["type"], t=e["t"], data=e["data"])
        for e in doc["events"]
    )
    return run


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_viewer_downloads_every_format(world: World, fmt: str) -> None:
    run = stored_run(world)
    response = signed_in(world.viewer).get(f"/runs/{run.id}/report/{fmt}")
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;") and f"-run-{run.id}." in disposition
    body = response.content
    if fmt == "pdf":
        assert body.startswith(b"%PDF")
    elif fmt == "json":
        assert json.loads(body)["objectives"]["rto_seconds"] == 8.695
    else:
        assert b"8.69 s" in body


def test_the_run_page_links_every_format(world: World) -> None:
    run = stored_run(world)
    page = signed_in(world.viewer).get(f"/runs/{run.id}/").content.decode()
    for fmt in FORMATS:
        assert f'href="/runs/{run.id}/report/{fmt}"' in page


def test_an_outsider_cannot_tell_the_report_exists(world: World) -> None:
    run = stored_run(world)
    assert signed_in(world.outsider).get(f"/runs/{run.id}/report/html").status_code == 404


def test_an_unknown_format_is_not_found(world: World) -> None:
    run = stored_run(world)
    assert signed_in(world.viewer).get(f"/runs/{run.id}/report/docx").status_code == 404


def test_chart_window_comes_from_the_query(world: World) -> None:
    run = stored_run(world)
    body = signed_in(world.viewer).get(f"/runs/{run.id}/report/json?before=5&after=7").content
    window = json.loads(body)["chart_window"]
    assert window == {"before_seconds": 5.0, "after_seconds": 7.0}


def test_gameday_report_has_its_drills_observations_and_action_items(
    world: World, gd: GameDayScene
) -> None:
    Observation.objects.create(
        run=gd.run, drill_run=gd.drill, verdict="passed", notes="paged in 40 s", author=world.owner
    )
    client = signed_in(world.viewer)
    page = client.get(f"/gamedays/runs/{gd.run.id}/").content.decode()
    assert f'href="/gamedays/runs/{gd.run.id}/report/pdf"' in page
    md = client.get(f"/gamedays/runs/{gd.run.id}/report/md").content.decode()
    assert "paged in 40 s" in md and "Alert on checkout errors" in md
    assert signed_in(world.outsider).get(f"/gamedays/runs/{gd.run.id}/report/md").status_code == 404
