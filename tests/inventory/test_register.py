"""Hosts and services in the inventory: registration by agents and by the lab, snapshots."""

from __future__ import annotations

import dataclasses

import pytest

from drills.engine.plan import HostInfo
from drills.web.hosts import (
    MoveRefused,
    RegistrationError,
    ServiceSpec,
    inventory_snapshot,
    register_agent,
    register_host,
)
from drills.web.models import Host
from drills.web.models.inventory import Service

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "host": "db1",
    "address": "10.77.0.3",
    "queue": "agent.db1",
    "netns": "dh-db1",
    "labels": {"role": "db"},
    "services": [{"name": "redis", "port": 6379, "kind": "redis"}],
}


def services_of(name: str) -> set[tuple[str, int, str]]:
    return {(s.name, s.port, s.kind) for s in Service.objects.filter(host__name=name)}


def test_agent_registration_creates_the_host_with_labels_and_services() -> None:
    result = register_agent(PAYLOAD)
    host = Host.objects.get(name="db1")
    assert result["created"] is True
    assert (host.address, host.agent_queue, host.netns) == ("10.77.0.3", "agent.db1", "dh-db1")
    assert host.labels == {"role": "db"}
    assert services_of("db1") == {("redis", 6379, "redis")}


def test_agent_registration_twice_changes_nothing() -> None:
    register_agent(PAYLOAD)
    second = register_agent(PAYLOAD)
    assert second["created"] is False
    assert Host.objects.count() == 1 and Service.objects.count() == 1


def test_agent_registration_never_clears_protected() -> None:
    register_agent(PAYLOAD)
    Host.objects.filter(name="db1").update(protected=True)
    result = register_agent(PAYLOAD)
    host = Host.objects.get(name="db1")
    assert host.protected is True and result["protected"] is True


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"address": "10.77.0.30"}, "its address from 10.77.0.3 to 10.77.0.30"),
        ({"queue": "agent.db2"}, "its agent queue from agent.db1 to agent.db2"),
        ({"netns": "dh-evil"}, "its network namespace from dh-db1 to dh-evil"),
        ({"netns": ""}, "its network namespace from dh-db1 to none"),
    ],
)
def test_agent_registration_cannot_move_a_known_host(change: dict[str, str], said: str) -> None:
    register_agent(PAYLOAD)
    with pytest.raises(MoveRefused) as refused:
        register_agent({**PAYLOAD, **change, "labels": {"role": "evil"}, "services": []})
    message = str(refused.value)
    assert message.startswith("a registration for the known host db1 was refused")
    assert said in message and "an admin edits host db1 in the admin site" in message
    host = Host.objects.get(name="db1")  # nothing of the refused registration was stored
    assert (host.address, host.agent_queue, host.netns) == ("10.77.0.3", "agent.db1", "dh-db1")
    assert host.labels == {"role": "db"}


def test_a_move_made_in_the_admin_is_what_the_agent_must_then_say() -> None:
    register_agent(PAYLOAD)
    Host.objects.filter(name="db1").update(address="10.77.0.30")  # an admin moved it
    with pytest.raises(MoveRefused, match="its address from 10.77.0.30 to 10.77.0.3"):
        register_agent(PAYLOAD)
    assert register_agent({**PAYLOAD, "address": "10.77.0.30"})["address"] == "10.77.0.30"


def test_a_new_host_is_still_added_by_its_agent() -> None:
    register_agent(PAYLOAD)
    result = register_agent({**PAYLOAD, "host": "db3", "address": "10.77.0.9", "netns": ""})
    assert result["created"] is True and Host.objects.count() == 2


def test_protected_in_a_payload_is_refused_not_applied() -> None:
    with pytest.raises(RegistrationError, match="unknown fields: protected"):
        register_agent({**PAYLOAD, "protected": False})


def test_labels_and_services_added_in_the_admin_stay_when_the_agent_registers_again() -> None:
    register_agent(PAYLOAD)
    Host.objects.filter(name="db1").update(labels={"role": "db", "team": "payments"})
    Service.objects.create(host=Host.objects.get(name="db1"), name="sentinel", port=26379)
    register_agent(PAYLOAD)
    assert Host.objects.get(name="db1").labels == {"role": "db", "team": "payments"}
    assert services_of("db1") == {("redis", 6379, "redis"), ("sentinel", 26379, "")}


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"labels": {"role": "db", "tier": "prod"}}, "add the label tier=prod"),
        ({"labels": {"role": "primary"}}, "change the label role from db to primary"),
        (
            {"services": [{"name": "redis", "port": 6380, "kind": "redis"}]},
            "change the service redis from 6379 (redis) to 6380 (redis)",
        ),
        (
            {"services": [{"name": "ssh", "port": 22, "kind": "tcp"}]},
            "add the service ssh on port 22",
        ),
    ],
)
def test_agent_registration_cannot_relabel_a_known_host_or_move_its_services(
    change: dict[str, object], said: str
) -> None:
    # Any agent may push a registration for any host: a label puts a host into a selector's
    # group, a port is where its faults aim.
    register_agent(PAYLOAD)
    before = (Host.objects.get(name="db1").labels, services_of("db1"))
    with pytest.raises(MoveRefused) as refused:
        register_agent({**PAYLOAD, **change})
    assert said in str(refused.value) and "an admin edits host db1" in str(refused.value)
    assert (Host.objects.get(name="db1").labels, services_of("db1")) == before


def test_agent_without_address_keeps_the_known_one() -> None:
    register_agent(PAYLOAD)
    register_agent({**PAYLOAD, "address": ""})
    assert Host.objects.get(name="db1").address == "10.77.0.3"


def test_new_agent_without_address_is_refused() -> None:
    with pytest.raises(RegistrationError, match="sent no address"):
        register_agent({**PAYLOAD, "address": ""})
    assert not Host.objects.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"host": "../etc"}, "invalid agent host name"),
        ({"address": "not-an-ip"}, "is not an IP address"),
        ({"address": "fe80::1%eth0"}, "has a scope"),
        ({"labels": {"role": 3}}, "value must be a string"),
        ({"labels": ["role=db"]}, "labels must be an object"),
        ({"services": [{"name": "redis", "port": 70000}]}, "port must be 1..65535"),
        ({"services": [{"name": "Bad Name", "port": 1}]}, "invalid service name"),
        ({"services": [{"name": "x", "port": True}]}, "port must be 1..65535"),
    ],
)
def test_bad_payloads_are_refused_and_store_nothing(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(RegistrationError, match=message):
        register_agent({**PAYLOAD, **change})
    assert not Host.objects.exists()


def test_register_host_sets_services_exactly_and_keeps_protected() -> None:
    register_host(
        "web",
        "10.77.0.2",
        "dh-web",
        lab=True,
        labels={"role": "web"},
        services=[ServiceSpec("app", 8080, "http"), ServiceSpec("old", 1, "")],
    )
    Host.objects.filter(name="web").update(protected=True)
    register_host(
        "web",
        "10.77.0.2",
        "dh-web",
        lab=True,
        labels={"role": "web"},
        services=[ServiceSpec("app", 8080, "http")],
    )
    host = Host.objects.get(name="web")
    assert host.protected and host.lab and host.labels == {"role": "web"}
    assert services_of("web") == {("app", 8080, "http")}


def test_snapshot_carries_labels_and_services_for_the_planner() -> None:
    register_agent(PAYLOAD)
    register_agent({"host": "web", "address": "10.77.0.2", "labels": {"role": "web"}})
    snapshot = inventory_snapshot()
    fields = {f.name for f in dataclasses.fields(HostInfo)}
    assert {"labels", "services"} <= fields, "the planner's HostInfo lost labels/services"
    db1 = snapshot["db1"]
    assert (db1.address, db1.queue, db1.netns, db1.protected) == (
        "10.77.0.3",
        "agent.db1",
        "dh-db1",
        False,
    )
    assert db1.labels == {"role": "db"}
    assert [(s.name, s.port, s.kind) for s in db1.services] == [("redis", 6379, "redis")]
    assert snapshot["web"].services == ()
    assert snapshot["web"].queue == "agent.web"


def test_a_refused_move_is_said_in_the_log_and_audited_as_an_agent_registration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from drills.web import tasks
    from drills.web.audit import content_hash
    from drills.web.models import AuditEntry
    from injector.protocol import Refusal

    tasks.register_host(PAYLOAD)  # the Celery task's body, as the orchestrator worker runs it
    moved = {**PAYLOAD, "address": "10.9.9.9"}
    with caplog.at_level("WARNING", logger="drills.web.tasks"):
        reply = Refusal.from_reply(tasks.register_host(moved))
    sentence = (
        "a registration for the known host db1 was refused: it would change its address from "
        "10.77.0.3 to 10.9.9.9. Registration can add a host but not move one; to move it on "
        "purpose, an admin edits host db1 in the admin site (Hosts)"
    )
    assert reply is not None and reply.message == sentence
    assert caplog.messages == [f"host registration refused: {sentence}"]
    entry = AuditEntry.objects.filter(action="agent_register").order_by("-id").first()
    assert entry is not None and entry.summary.startswith(
        f"refused a registration: {sentence}"[:300]
    )
    assert entry.content_hash == content_hash(moved) and entry.object_id == "db1"
    assert Host.objects.get(name="db1").address == "10.77.0.3"
