"""A run whose orchestrator died ends, and so do the silences it made: the reaper expires, in
the real Alertmanager, every silence the run's stream shows made and not expired, and says so in
the stream. (The agents are a fake driver here, as in test_liveness.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from drills.engine.alertmanager import AlertmanagerClient, host_matcher
from drills.engine.events import EventType
from drills.web.hosts import register_host
from drills.web.liveness import end_lost_run
from drills.web.models import DrillRun
from drills.web.run_control import create_run
from drills.web.stream import RunEventSink
from injector.protocol import FaultState, RevertReply
from tests.alertmanager import running_alertmanager
from tests.web.personas import World

pytestmark = pytest.mark.django_db(transaction=True)


class RevertingAgents:
    def revert(self, queue: str, fault_id: str, timeout: float) -> RevertReply:
        return RevertReply(fault_id, queue.removeprefix("agent."), FaultState.REVERTED)


@pytest.fixture(autouse=True)
def test_redis(needs_redis: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "REDIS_URL", needs_redis)


@pytest.fixture
def am(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with running_alertmanager(tmp_path) as url:
        monkeypatch.setattr(settings, "DRILLHALL_ALERTMANAGER_URL", url)
        yield url


def lost_run(world: World, silences: list[tuple[str, str]]) -> DrillRun:
    """A run in the middle of its partition, whose stream holds these (state, silence id)."""
    register_host("web", "10.77.0.2", "dh-web")
    register_host("db1", "10.77.0.3", "dh-db1")
    run = create_run(world.version, world.member)
    DrillRun.objects.filter(id=run.id).update(
        state="observing", started_at=timezone.now() - timedelta(minutes=1)
    )
    sink = RunEventSink(run.id)
    for state, silence_id in silences:
        data: dict[str, Any] = {"step": 2, "host": "db1", "silence_id": silence_id,
                                "state": state, "ends_at": time.time() + 60}  # fmt: skip
        sink.emit(EventType.SILENCE, data, time.time())
    run.refresh_from_db()
    return run


def test_a_lost_run_s_silences_are_expired_when_the_reaper_ends_it(am: str, world: World) -> None:
    client = AlertmanagerClient(am)
    now = time.time()
    left = client.create_silence([host_matcher("instance", "db1")], now, now + 60, "left")
    done = client.create_silence([host_matcher("instance", "db1")], now, now + 60, "done")
    client.expire_silence(done)
    run = lost_run(world, [("created", done), ("expired", done), ("created", left)])

    assert end_lost_run(run, RevertingAgents())
    assert client.silence(left).state == "expired"
    events = [(e.type, e.data) for e in run.events.order_by("seq")]
    ended = [d for t, d in events[3:] if t == "silence"]
    assert [(d["silence_id"], d["state"]) for d in ended] == [(left, "expired")]
    assert ended[0]["message"] == f"the silence of alerts about db1 is expired (silence {left})"
    types = [t for t, _ in events[3:]]
    assert types.index("silence") < types.index("error")  # said before the run's end


def test_a_silence_the_reaper_cannot_expire_is_said_with_when_it_ends_by_itself(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "DRILLHALL_ALERTMANAGER_URL", "http://127.0.0.1:1")
    silence_id = "0a7c2b1e-1111-4222-8333-444455556666"
    run = lost_run(world, [("created", silence_id)])

    assert end_lost_run(run, RevertingAgents())
    (said,) = [e.data for e in run.events.order_by("seq")[1:] if e.type == "silence"]
    assert said["state"] == "failed"
    assert said["message"].startswith(
        "the silence of alerts about db1 could not be expired: Alertmanager at "
        "http://127.0.0.1:1 could not be reached to expire silence"
    )
    assert "; it ends by itself at " in said["message"]
    assert DrillRun.objects.get(id=run.id).state == "error"  # the run ends all the same
