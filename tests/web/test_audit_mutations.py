"""Every mutation through its real entry point writes exactly one audit entry, with the actor,
the source address, the object and the hash of what it carried; nothing that changes
nothing writes one.

Web mutations go through the Django test client with CSRF checks on, admin ones through the
admin site, the lab's and the examples' through their functions as the CLI calls them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from drills.web import tasks
from drills.web.audit import content_hash
from drills.web.hosts import ServiceSpec, host_state, register_host
from drills.web.models import AuditEntry, DrillRun, GameDay, Host, Membership, Playbook
from injector.protocol import Refusal
from tests.conftest import redis_up, require
from tests.conftest import test_redis_url as redis_url_for_tests
from tests.web.personas import PASSWORD, PLAYBOOK_YAML, World, make_run

pytestmark = pytest.mark.django_db

ADDRESS = "192.0.2.10"
EDITED = PLAYBOOK_YAML.read_text().replace("duration: 10s", "duration: 20s")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Log:
    """The entries written after this point, oldest first."""

    def __init__(self) -> None:
        last = AuditEntry.objects.order_by("-id").first()
        self.mark = last.id if last else 0

    def new(self) -> list[AuditEntry]:
        return list(AuditEntry.objects.filter(id__gt=self.mark).order_by("id"))

    def one(self) -> AuditEntry:
        entries = self.new()
        assert len(entries) == 1, [e.summary for e in entries]
        return entries[0]


def signed_in(user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("playbook-list"))  # sets the CSRF cookie, as a browser's first page does
    return client


def post(client: Client, url: str, data: dict | None = None, address: str = ADDRESS):  # type: ignore[no-untyped-def,type-arg]
    token = client.cookies["csrftoken"].value
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": token}, REMOTE_ADDR=address)


@pytest.fixture
def member(world: World) -> User:
    """max: author and operator of the playbook's team."""
    for role in ("author", "operator"):
        Membership.objects.get_or_create(user=world.member, team=world.team, role=role)
    return world.member


@pytest.fixture
def inventory(world: World) -> None:
    register_host("web", "10.77.0.2", "dh-web")
    register_host("db1", "10.77.0.3", "dh-db1")


@pytest.fixture
def orchestrator_queue(settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The real broker, on a queue of this test's own that it empties afterwards."""
    require(redis_up(), f"needs Redis at {redis_url_for_tests()}")
    queue = f"audit-test-{uuid.uuid4().hex[:8]}"
    settings.DRILLHALL_ORCHESTRATOR_QUEUE = queue
    yield queue
    redis.Redis.from_url(settings.REDIS_URL).delete(
        queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
    )


# --- playbook saves ---------------------------------------------------------------------


def test_saving_in_the_editor_is_one_entry_with_actor_address_and_the_text_hash(
    world: World, member: User
) -> None:
    client = signed_in(member)
    log = Log()
    response = post(client, reverse("playbook-edit", args=["checkout-partition"]),
                    {"content": EDITED, "message": "longer cut"})  # fmt: skip
    assert response.status_code == 302
    entry = log.one()
    version = world.playbook.latest_version()
    assert version is not None and version.number == 2
    assert (entry.action, entry.actor_name, entry.actor_id, entry.source) == (
        "playbook_save",
        "max",
        member.id,
        ADDRESS,
    )
    assert (entry.object_type, entry.object_id) == ("playbook", "checkout-partition")
    assert entry.content_hash == sha256(EDITED) == version.content_hash
    assert entry.summary == "saved checkout-partition v2: “longer cut”"


def test_saving_the_same_text_again_writes_no_entry(world: World, member: User) -> None:
    client = signed_in(member)
    log = Log()
    response = post(client, reverse("playbook-edit", args=["checkout-partition"]),
                    {"content": world.version.content})  # fmt: skip
    assert response.status_code == 302
    assert log.new() == []


def test_a_refused_save_writes_no_entry(world: World, member: User) -> None:
    client = signed_in(member)
    log = Log()
    broken = EDITED.replace("    duration: 20s", "    duraton: 20s")
    response = post(client, reverse("playbook-edit", args=["checkout-partition"]),
                    {"content": broken})  # fmt: skip
    assert response.status_code == 400
    assert log.new() == []


def test_a_new_playbook_is_one_entry(world: World, member: User) -> None:
    client = signed_in(member)
    text = EDITED.replace("name: checkout-partition", "name: checkout-partition-2")
    log = Log()
    response = post(client, reverse("playbook-new"), {"content": text})
    assert response.status_code == 302
    entry = log.one()
    assert (entry.action, entry.actor_name, entry.source) == ("playbook_save", "max", ADDRESS)
    assert entry.object_id == "checkout-partition-2"
    assert entry.summary == "created playbook checkout-partition-2 as v1: “created”"
    assert entry.content_hash == sha256(text)


def test_without_csrf_token_nothing_is_saved_and_nothing_recorded(
    world: World, member: User
) -> None:
    client = signed_in(member)
    log = Log()
    url = reverse("playbook-edit", args=["checkout-partition"])
    assert client.post(url, {"content": EDITED}).status_code == 403
    assert log.new() == []


def test_restoring_a_version_is_one_entry(world: World, member: User) -> None:
    world.playbook.save_version(EDITED, author=world.owner, message="second")
    client = signed_in(member)
    log = Log()
    response = post(client, reverse("playbook-restore", args=["checkout-partition", 1]))
    assert response.status_code == 302
    entry = log.one()
    assert (entry.action, entry.actor_name, entry.source) == ("playbook_save", "max", ADDRESS)
    assert entry.summary == "saved checkout-partition v3: “restore v1”"
    assert entry.content_hash == world.version.content_hash


def test_loading_the_examples_is_one_entry_each_as_system_and_none_when_unchanged() -> None:
    User.objects.create_superuser("admin", "admin@example.test", "pw")
    log = Log()
    call_command("loadexamples", "--owner", "admin")
    entries = log.new()
    names = set(Playbook.objects.values_list("name", flat=True))
    gamedays = set(GameDay.objects.values_list("name", flat=True))
    assert len(entries) == len(names) + len(gamedays) and names and gamedays
    for entry in entries:
        kind = "gameday" if entry.object_id in gamedays else "playbook"
        assert (entry.action, entry.actor_name, entry.source) == (
            f"{kind}_save",
            "system",
            "system",
        )
        model = GameDay if kind == "gameday" else Playbook
        version = model.objects.get(name=entry.object_id).latest_version()
        assert version is not None and entry.content_hash == version.content_hash
    again = Log()
    call_command("loadexamples", "--owner", "admin")
    assert again.new() == []


# --- runs --------------------------------------------------------------------------------


def test_starting_a_run_is_one_entry_pinned_to_the_version_hash(
    world: World, member: User, inventory: None, orchestrator_queue: str
) -> None:
    client = signed_in(member)
    log = Log()
    response = post(client, reverse("playbook-run", args=["checkout-partition"]))
    assert response.status_code == 302
    run = DrillRun.objects.get()
    assert run.state == "pending" and run.enqueued_at is not None
    entry = log.one()
    assert (entry.action, entry.actor_name, entry.actor_id, entry.source) == (
        "run_start",
        "max",
        member.id,
        ADDRESS,
    )
    assert (entry.object_type, entry.object_id) == ("run", str(run.id))
    assert entry.content_hash == world.version.content_hash
    assert entry.summary == f"started run {run.id} of checkout-partition v1"


def test_a_run_whose_plan_is_refused_is_still_one_start_entry_that_says_so(
    world: World, member: User
) -> None:
    client = signed_in(member)  # no inventory: the plan names hosts nobody registered
    log = Log()
    post(client, reverse("playbook-run", args=["checkout-partition"]))
    run = DrillRun.objects.get()
    assert run.state == "error"
    entry = log.one()
    assert entry.action == "run_start" and entry.object_id == str(run.id)
    assert entry.summary.startswith(
        f"started run {run.id} of checkout-partition v1; it ended at once: the plan was refused"
    )


def test_an_abort_is_one_entry_and_a_second_one_none(world: World, member: User) -> None:
    run = make_run(world.version, world.owner, state="observing")
    client = signed_in(member)
    log = Log()
    post(client, reverse("run-abort", args=[run.id]))
    entry = log.one()
    assert (entry.action, entry.actor_name, entry.source) == ("run_abort", "max", ADDRESS)
    assert (entry.object_type, entry.object_id) == ("run", str(run.id))
    assert entry.summary == f"aborted run {run.id} of checkout-partition v1: aborted by max"
    assert entry.content_hash == sha256("aborted by max")
    post(client, reverse("run-abort", args=[run.id]))  # already requested: changes nothing
    assert len(log.new()) == 1


def test_aborting_a_finished_run_writes_no_entry(world: World, member: User) -> None:
    run = make_run(world.version, world.owner, state="passed")
    client = signed_in(member)
    log = Log()
    post(client, reverse("run-abort", args=[run.id]))
    post(client, reverse("run-resume", args=[run.id]))
    assert log.new() == []


def test_a_resume_is_one_entry(world: World, member: User) -> None:
    run = make_run(world.version, world.owner, state="observing")
    client = signed_in(member)
    log = Log()
    post(client, reverse("run-resume", args=[run.id]), address="198.51.100.4")
    entry = log.one()
    assert (entry.action, entry.actor_name, entry.source) == ("run_resume", "max", "198.51.100.4")
    assert entry.object_id == str(run.id)
    assert entry.summary == f"resumed run {run.id} of checkout-partition v1 (resume 1)"
    assert entry.content_hash == sha256(f"resume 1 of run {run.key}")


# --- failed logins ----------------------------------------------------------------------


def login(client: Client, username: str, password: str, address: str):  # type: ignore[no-untyped-def]
    client.get(reverse("login"))
    token = client.cookies["csrftoken"].value
    return client.post(
        reverse("login"),
        {"username": username, "password": password, "csrfmiddlewaretoken": token},
        REMOTE_ADDR=address,
    )


def test_a_failed_login_through_the_form_is_one_entry_with_the_name_typed_and_address(
    world: World,
) -> None:
    client = Client(enforce_csrf_checks=True)
    log = Log()
    assert login(client, "max", "not-the-password", "203.0.113.7").status_code == 200
    entry = log.one()
    assert (entry.action, entry.actor_name, entry.actor_id, entry.source) == (
        "login_failed",
        "",
        None,
        "203.0.113.7",
    )
    assert (entry.object_type, entry.object_id) == ("user", "max")
    assert entry.summary == "failed login as “max”"
    assert entry.content_hash == sha256("max")
    # Signing in with the right password changes nothing in the log.
    assert login(client, "max", PASSWORD, "203.0.113.7").status_code == 302
    assert len(log.new()) == 1


def test_a_login_refused_for_too_many_failures_is_an_entry_that_says_so(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    log = Log()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "nobody", "guess", "203.0.113.8")
    refused = login(client, "nobody", "guess", "203.0.113.8")
    assert refused.status_code == 429
    entries = log.new()
    assert len(entries) == settings.AXES_FAILURE_LIMIT + 1
    assert entries[-1].summary == "refused a login as “nobody”: too many failed logins"


# --- the inventory in the admin ---------------------------------------------------------


@pytest.fixture
def admin_user(world: World) -> User:
    return world.admin  # "ada", of the "drillhall admins" group


HOST_FORM = {
    "name": "db9",
    "address": "10.77.0.9",
    "agent_queue": "agent.db9",
    "netns": "",
    "labels": '{"role": "db"}',
    "services-TOTAL_FORMS": "1",
    "services-INITIAL_FORMS": "0",
    "services-MIN_NUM_FORMS": "0",
    "services-MAX_NUM_FORMS": "1000",
    "services-0-name": "redis",
    "services-0-port": "6379",
    "services-0-kind": "redis",
}


def test_adding_changing_and_deleting_a_host_in_the_admin_are_one_entry_each(
    admin_user: User,
) -> None:
    client = signed_in(admin_user)
    log = Log()
    response = post(client, reverse("admin:drills_host_add"), HOST_FORM)
    assert response.status_code == 302, response.content[:2000]
    host = Host.objects.get(name="db9")
    added = log.one()
    assert (added.action, added.actor_name, added.source) == ("inventory_change", "ada", ADDRESS)
    assert (added.object_type, added.object_id) == ("host", "db9")
    assert added.summary == "added host db9 in the admin"
    assert added.content_hash == content_hash({"name": "db9", **(host_state("db9") or {})})

    service = host.services.get()
    change = {
        **HOST_FORM,
        "protected": "on",
        "services-INITIAL_FORMS": "1",
        "services-0-id": str(service.pk),
        "services-0-host": str(host.pk),
    }
    log = Log()
    response = post(client, reverse("admin:drills_host_change", args=[host.pk]), change)
    assert response.status_code == 302
    changed = log.one()
    assert changed.summary.startswith("changed host db9 in the admin: Changed ")
    assert "Protected" in changed.summary
    assert changed.content_hash == content_hash({"name": "db9", **(host_state("db9") or {})})

    log = Log()
    response = post(client, reverse("admin:drills_host_delete", args=[host.pk]), {"post": "yes"})
    assert response.status_code == 302
    deleted = log.one()
    assert deleted.summary == "deleted host db9 in the admin"
    assert deleted.content_hash == changed.content_hash  # what was there when it went
    assert not Host.objects.filter(name="db9").exists()


def test_deleting_two_hosts_at_once_is_one_entry_per_host(admin_user: User) -> None:
    web, db = register_host("web", "10.77.0.2"), register_host("db1", "10.77.0.3")
    client = signed_in(admin_user)
    log = Log()
    response = post(client, reverse("admin:drills_host_changelist"),
                    {"action": "delete_selected", "_selected_action": [web.pk, db.pk],
                     "post": "yes"})  # fmt: skip
    assert response.status_code == 302
    assert sorted((e.object_id, e.summary) for e in log.new()) == [
        ("db1", "deleted host db1 in the admin"),
        ("web", "deleted host web in the admin"),
    ]


def test_a_refused_admin_form_writes_no_entry(admin_user: User) -> None:
    client = signed_in(admin_user)
    log = Log()
    bad = {**HOST_FORM, "services-0-port": "70000"}
    assert post(client, reverse("admin:drills_host_add"), bad).status_code == 200
    assert log.new() == []


def test_roles_users_and_teams_changed_in_the_admin_are_audited(
    admin_user: User, world: World
) -> None:
    client = signed_in(admin_user)
    log = Log()
    role = {"user": world.outsider.pk, "team": world.team.pk, "role": "approver"}
    response = post(client, reverse("admin:drills_membership_add"), role)
    assert response.status_code == 302
    entry = log.one()
    assert (entry.object_type, entry.actor_name) == ("membership", "ada")
    assert entry.summary == "added membership otto is approver in platform-team in the admin"

    log = Log()
    response = post(client, reverse("admin:auth_group_add"), {"name": "sre"})
    assert response.status_code == 302
    assert log.one().summary == "added group sre in the admin"

    log = Log()
    team = Group.objects.get(name="sre")
    response = post(client, reverse("admin:auth_user_delete", args=[world.outsider.pk]),
                    {"post": "yes"})  # fmt: skip
    assert response.status_code == 302
    entries = log.new()
    assert [e.summary for e in entries] == ["deleted user otto in the admin"]
    assert team.pk  # the group is untouched


# --- the lab and agents -----------------------------------------------------------------


def test_the_lab_registering_a_host_is_one_system_entry_and_none_when_nothing_changed() -> None:
    log = Log()
    register_host("web", "10.77.0.2", "dh-web", lab=True, services=[ServiceSpec("app", 8080)])
    entry = log.one()
    assert (entry.action, entry.actor_name, entry.source) == (
        "inventory_change",
        "system",
        "system",
    )
    assert (
        entry.summary
        == "registered host web: new host at 10.77.0.2 in namespace dh-web, queue agent.web"
    )
    log = Log()
    register_host("web", "10.77.0.2", "dh-web", lab=True, services=[ServiceSpec("app", 8080)])
    assert log.new() == []
    register_host("web", "10.77.0.5", "dh-web", lab=True, services=[ServiceSpec("app", 8080)])
    assert log.one().summary == "registered host web: address 10.77.0.2 to 10.77.0.5"


def test_the_lab_going_down_removes_its_hosts_with_one_entry_each() -> None:
    from drills.cli import labctl

    register_host("web", "10.77.0.2", "dh-web", lab=True)
    register_host("db1", "10.77.0.3", "dh-db1", lab=True)
    register_host("prod1", "192.0.2.50")  # not the lab's
    Host.objects.filter(name__in=["web", "db1"]).update(lab=True)
    log = Log()
    # What `lab down` does to the inventory, without taking down the lab that other test
    # processes on this machine may be using (namespaces and the broker's bind are global).
    labctl.forget_lab_hosts()
    assert sorted(e.summary for e in log.new()) == [
        "removed lab host db1 (lab down)",
        "removed lab host web (lab down)",
    ]
    assert list(Host.objects.values_list("name", flat=True)) == ["prod1"]


PAYLOAD = {
    "host": "db1",
    "address": "10.77.0.3",
    "queue": "agent.db1",
    "netns": "dh-db1",
    "labels": {"role": "db"},
    "services": [{"name": "redis", "port": 6379, "kind": "redis"}],
}


def test_an_agent_registration_is_one_entry_accepted_or_refused() -> None:
    log = Log()
    tasks.register_host(PAYLOAD)  # the Celery task's body, as the worker runs it
    entry = log.one()
    assert (entry.action, entry.actor_name, entry.source) == (
        "agent_register",
        "agent db1",
        "agent db1",
    )
    assert entry.object_id == "db1"
    assert entry.summary == (
        "accepted the registration of host db1: new host at 10.77.0.3 in namespace dh-db1, "
        "queue agent.db1"
    )
    assert entry.content_hash == content_hash(PAYLOAD)

    log = Log()
    tasks.register_host(PAYLOAD)  # an agent restarting: recorded, and it says nothing changed
    assert log.one().summary == "accepted the registration of host db1: nothing changed"

    log = Log()
    forged = {**PAYLOAD, "address": "fe80::1%eth0"}
    # Refused with a sentence (in the worker's log and the reply), not a task failure.
    reply = Refusal.from_reply(tasks.register_host(forged))
    assert reply is not None and "has a scope" in reply.message
    refused = log.one()
    assert refused.summary.startswith("refused a registration: address 'fe80::1%eth0' has a scope")
    assert refused.content_hash == content_hash(forged)
    assert Host.objects.get(name="db1").address == "10.77.0.3"

    log = Log()
    reply = Refusal.from_reply(tasks.register_host({"host": "x; rm -rf /", "evil": 1}))
    assert reply is not None and "unknown fields" in reply.message
    junk = log.one()
    assert (junk.actor_name, junk.source, junk.object_id) == ("an agent", "an agent", "")


def test_a_run_made_outside_any_view_is_recorded_with_what_is_known(world: World) -> None:
    # A caller that passes no origin still leaves its one entry (the user, address unknown).
    from drills.web.run_control import create_run

    log = Log()
    run = create_run(world.version, world.member)
    entry = log.one()
    assert (entry.action, entry.actor_name, entry.source) == ("run_start", "max", "")
    assert entry.object_id == str(run.id)
    assert json.dumps(entry.summary)  # words, not a repr
