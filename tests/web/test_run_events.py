from __future__ import annotations

from django.urls import reverse

from drills.web.models import RunEvent
from tests.web.personas import World, make_run


def add_events(run, count: int) -> None:  # type: ignore[no-untyped-def]
    # Stored out of order on purpose: the answer must be in seq order anyway.
    for seq in reversed(range(1, count + 1)):
        RunEvent.objects.create(
            run=run,
            seq=seq,
            type="sample",
            t=1000.0 + seq,
            data={"probe": "checkout", "ok": True, "latency_ms": 1.0 * seq},
        )


def test_it_returns_the_events_after_n_in_order(client, world: World):
    run = make_run(world.version, world.owner, state="observing")
    other = make_run(world.version, world.owner)
    add_events(run, 6)
    add_events(other, 9)
    client.force_login(world.member)
    body = client.get(reverse("run-events", args=[run.id]), {"after": 3}).json()
    assert [e["seq"] for e in body["events"]] == [4, 5, 6]
    assert body["events"][0] == {
        "seq": 4,
        "type": "sample",
        "t": 1004.0,
        "data": {"probe": "checkout", "ok": True, "latency_ms": 4.0},
        # The sentence the report and the CLI say for it, for the live page's log.
        "text": "checkout ok, 4.0 ms",
    }
    assert body["state"] == "observing"
    assert body["more"] is False


def test_it_returns_everything_without_after(client, world: World):
    run = make_run(world.version, world.owner)
    add_events(run, 3)
    client.force_login(world.owner)
    body = client.get(reverse("run-events", args=[run.id])).json()
    assert [e["seq"] for e in body["events"]] == [1, 2, 3]


def test_it_pages_with_limit(client, world: World):
    run = make_run(world.version, world.owner)
    add_events(run, 5)
    client.force_login(world.owner)
    body = client.get(reverse("run-events", args=[run.id]), {"after": 1, "limit": 2}).json()
    assert [e["seq"] for e in body["events"]] == [2, 3]
    assert body["more"] is True


def test_it_rejects_a_malformed_after(client, world: World):
    run = make_run(world.version, world.owner)
    client.force_login(world.owner)
    url = reverse("run-events", args=[run.id])
    assert client.get(url, {"after": "x"}).status_code == 400
    assert client.get(url, {"after": "-1"}).status_code == 400


def test_it_is_404_for_an_outsider(client, world: World):
    run = make_run(world.version, world.owner)
    add_events(run, 2)
    client.force_login(world.outsider)
    assert client.get(reverse("run-events", args=[run.id])).status_code == 404
