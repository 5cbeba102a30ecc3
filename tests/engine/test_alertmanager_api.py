"""Drillhall's Alertmanager client against the real Alertmanager (Debian's, on a free loopback
port): silences made and expired through the client are read back through Alertmanager's own
API, and alerts posted to it show which silences mute them."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drills.engine.alertmanager import (
    AlertmanagerClient,
    AlertmanagerError,
    AlertmanagerSilencer,
    host_matcher,
)
from drills.engine.clock import FakeClock
from drills.engine.events import EventType, MemorySink
from drills.engine.plan import resolve_plan
from drills.engine.runner import DrillRunner, RunOptions
from drills.engine.states import RunState
from drills.playbook.parser import parse_playbook
from injector.protocol import ApplyReply, FaultSpec
from tests.alertmanager import api, running_alertmanager
from tests.engine.fakes import INVENTORY, FakeDriver, FakeService, fake_probes
from tests.engine.reading import of_type, shop_drill


@pytest.fixture(scope="module")
def am(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_alertmanager(tmp_path_factory.mktemp("alertmanager")) as url:
        yield url


def read_silence(url: str, silence_id: str) -> dict[str, Any]:
    return next(s for s in api(url, "/api/v2/silences") if s["id"] == silence_id)


def epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def test_a_silence_made_through_the_client_is_active_in_alertmanager(am: str) -> None:
    client = AlertmanagerClient(am)
    now = time.time()
    silence_id = client.create_silence(
        [host_matcher("instance", "db1")], now, now + 120, "drill partition-demo, run r1"
    )

    found = read_silence(am, silence_id)
    assert found["status"]["state"] == "active"
    assert found["matchers"] == [
        {"name": "instance", "value": "db1(?::[0-9]+)?", "isRegex": True, "isEqual": True}
    ]
    assert found["createdBy"] == "drillhall"
    assert found["comment"] == "drill partition-demo, run r1"
    assert abs(epoch(found["endsAt"]) - (now + 120)) < 0.01
    listed = {s.id: s for s in client.silences()}
    assert listed[silence_id].state == "active"
    assert listed[silence_id].matchers == (host_matcher("instance", "db1"),)


def test_an_expired_silence_is_expired_in_alertmanager_at_once_and_expiring_it_again_is_fine(
    am: str,
) -> None:
    client = AlertmanagerClient(am)
    now = time.time()
    silence_id = client.create_silence([host_matcher("instance", "db2")], now, now + 120, "x")

    client.expire_silence(silence_id)
    expired_at = time.time()
    found = read_silence(am, silence_id)
    assert found["status"]["state"] == "expired"
    assert epoch(found["endsAt"]) <= expired_at + 0.01
    assert expired_at - epoch(found["updatedAt"]) < 1.0
    client.expire_silence(silence_id)  # again: nothing to do, no error
    assert client.silence(silence_id).state == "expired"


def test_the_silencer_s_allowance_for_clock_skew_silences_nothing_before_it_was_asked(
    am: str,
) -> None:
    silencer = AlertmanagerSilencer(AlertmanagerClient(am))
    asked = time.time()
    silence_id = silencer.create("db3", asked, asked + 60, "skew")  # sent a minute early
    found = read_silence(am, silence_id)
    assert found["status"]["state"] == "active"
    assert asked - 0.01 <= epoch(found["startsAt"]) <= time.time() + 0.01  # Alertmanager's now
    silencer.expire(silence_id)


def test_expiring_a_silence_alertmanager_does_not_know_says_so(am: str) -> None:
    unknown = "0a7c2b1e-1111-4222-8333-444455556666"
    with pytest.raises(AlertmanagerError) as caught:
        AlertmanagerClient(am).expire_silence(unknown)
    assert not caught.value.unreachable
    assert str(caught.value).startswith(
        f"Alertmanager at {am} refused to expire silence {unknown}: HTTP "
    )
    assert "not found" in str(caught.value)


# Alert instances, and which of them a silence for the host catches.
CAUGHT = {
    "db1": {"db1", "db1:9100"},
    "a.b": {"a.b", "a.b:9100"},
    "db1|.*": {"db1|.*"},  # a hostile host name: a literal, it silences nothing else
}
INSTANCES = ["db1", "db1:9100", "db10", "db10:9100", "db1.example.com:9100", "a.b", "a.b:9100",
             "axb", "db1|.*", "anything"]  # fmt: skip


@pytest.mark.parametrize("host", sorted(CAUGHT))
def test_alertmanager_mutes_the_alerts_about_the_host_and_no_other(am: str, host: str) -> None:
    client = AlertmanagerClient(am)
    alertname = f"DrillTest{sorted(CAUGHT).index(host)}"
    api(am, "/api/v2/alerts", [
        {"labels": {"alertname": alertname, "instance": instance}} for instance in INSTANCES
    ])  # fmt: skip
    now = time.time()
    silence_id = client.create_silence(
        [host_matcher("instance", host)], now, now + 120, "muting test"
    )
    try:
        alerts = [a for a in api(am, "/api/v2/alerts") if a["labels"]["alertname"] == alertname]
        muted = {a["labels"]["instance"] for a in alerts if silence_id in a["status"]["silencedBy"]}
        assert {a["labels"]["instance"] for a in alerts} == set(INSTANCES)
        assert muted == CAUGHT[host]
    finally:
        client.expire_silence(silence_id)


def test_a_refusal_is_alertmanager_s_own_sentence(am: str) -> None:
    client = AlertmanagerClient(am)
    now = time.time()
    with pytest.raises(AlertmanagerError) as caught:
        client.create_silence([host_matcher("instance", "db1")], now + 60, now + 30, "backwards")
    assert not caught.value.unreachable
    assert str(caught.value) == (
        f"Alertmanager at {am} refused to create a silence: HTTP 400 (Failed to create silence: "
        "start time must be before end time)"
    )


def test_a_wrong_route_prefix_says_what_to_check(am: str) -> None:
    with pytest.raises(AlertmanagerError) as caught:
        AlertmanagerClient(am + "/alertmanager").silences()
    assert "HTTP 404" in str(caught.value)
    assert "is DRILLHALL_ALERTMANAGER_URL the Alertmanager's base URL" in str(caught.value)


def test_the_client_reads_alertmanager_s_version(am: str) -> None:
    assert AlertmanagerClient(am).version().split(".")[0] == "0"


def test_an_alertmanager_that_is_not_running_is_unreachable_at_once() -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(AlertmanagerError) as caught:
            AlertmanagerClient(f"http://127.0.0.1:{port}").silences()
    assert time.monotonic() - started < 0.5
    assert caught.value.unreachable
    assert str(caught.value) == (
        f"Alertmanager at http://127.0.0.1:{port} could not be reached to list silences: "
        "connection refused (is it running, on that port?)"
    )


def test_an_alertmanager_that_never_answers_costs_one_timeout() -> None:
    with socket.socket() as listener:  # accepts connections (the backlog), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(AlertmanagerError) as caught:
            AlertmanagerClient(f"http://127.0.0.1:{port}", timeout=0.3).create_silence(
                [host_matcher("instance", "db1")], time.time(), time.time() + 60, "x"
            )
        took = time.monotonic() - started
    assert 0.3 <= took < 1.0
    assert caught.value.unreachable
    assert "did not answer within 0.3 s" in str(caught.value) or "no answer within 0.3 s" in str(
        caught.value
    )


# -- a run silences through the real Alertmanager -----------------------------------------

ONE_FAULT = shop_drill(
    "am-drill",
    """\
steps:
  - wait: 1s
  - {fault: network.partition, target: db, from: [app], duration: 30s}
""",
)


class WatchingDriver(FakeDriver):
    """Reads Alertmanager's silences at the moment each fault is applied."""

    am = ""
    seen: list[dict[str, Any]] = []

    def apply(self, queue: str, spec: FaultSpec, timeout: float) -> ApplyReply:
        type(self).seen = api(self.am, "/api/v2/silences")
        return super().apply(queue, spec, timeout)


def test_a_run_silences_its_fault_window_in_alertmanager_and_expires_it_after_the_revert(
    am: str, tmp_path: Path
) -> None:
    # The fake clock starts now, so the silence's times are real ones Alertmanager accepts
    # (its start, 1 s ahead after the baseline, is within the clock skew the silencer allows);
    # the 30 s fault then takes no real time.
    clock = FakeClock(start=time.time())
    service = FakeService(clock)
    WatchingDriver.am = am
    driver = WatchingDriver(service, clock=clock)
    playbook = parse_playbook(ONE_FAULT)
    sink = MemorySink()
    runner = DrillRunner(
        "am1",
        playbook,
        resolve_plan(playbook, INVENTORY),
        driver,
        sink,
        options=RunOptions(lease_seconds=3, settle_seconds=1, tick_seconds=0.1),
        clock=clock,
        build_probe=fake_probes(service),
        silencer=AlertmanagerSilencer(AlertmanagerClient(am)),
    )
    assert runner.run().state is RunState.PASSED

    created, expired = of_type(sink, EventType.SILENCE)
    silence_id = created["silence_id"]
    at_apply = next(s for s in WatchingDriver.seen if s["id"] == silence_id)
    assert at_apply["status"]["state"] == "active"
    assert at_apply["matchers"][0]["value"] == "h2(?::[0-9]+)?"
    assert "run am1" in at_apply["comment"] and "fault ram1-s2-a1" in at_apply["comment"]
    assert expired["state"] == "expired" and expired["silence_id"] == silence_id
    assert read_silence(am, silence_id)["status"]["state"] == "expired"
