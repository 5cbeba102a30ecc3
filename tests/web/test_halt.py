"""The global kill switch: anyone signed in halts, only an admin releases, the database keeps it.

Against the real Redis of the tests (the key and marker of ``injector.protocol``) and the test
database. Personas: the world's owner, member and outsider, plus an admin.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from drills.engine.states import RunState
from drills.web.halt import current_halt, halt_all
from drills.web.models import DrillRun, Halt, Host
from drills.web.run_control import start_run
from injector.halt import HaltFlag
from tests.conftest import free_port
from tests.web.halt_state import forget_redis
from tests.web.personas import PASSWORD, World


@pytest.fixture
def admin(db) -> User:  # type: ignore[no-untyped-def]
    return User.objects.create_user("adela", password=PASSWORD, is_superuser=True)


def test_any_signed_in_user_halts_and_the_database_records_who_and_why(
    client: Client, world: World, halt_redis: HaltFlag
) -> None:
    client.force_login(world.member)
    response = client.post(reverse("halt-all"), {"reason": "db1 on fire"}, follow=True)
    assert response.status_code == 200
    halt = Halt.objects.get()
    assert halt.in_force and halt.reason == "db1 on fire"
    assert halt.by == world.member and halt.by_name == "max"
    assert halt_redis.get() == halt.state()  # Redis holds the copy
    page = response.content.decode()
    assert 'id="halt-banner"' in page and "db1 on fire" in page
    assert 'id="release-button"' not in page  # a member may halt, not release


def test_it_tells_every_inventory_agent_queue(
    client: Client, world: World, halt_redis: HaltFlag, settings: Any, tmp_path: Path
) -> None:
    from drillhall.celery import app
    from injector.signing import ensure_agent_key

    # The release is signed for each host: the server needs their keys.
    settings.DRILLHALL_CREDENTIALS_DIR = tmp_path
    for host in ("h1", "h2"):
        ensure_agent_key(tmp_path, host)
    Host.objects.create(name="h1", address="10.77.9.1", agent_queue="agent.h1")
    Host.objects.create(name="h2", address="10.77.9.2", agent_queue="agent.h2")
    client.force_login(world.outsider)
    with app.connection_for_write() as conn:
        # Celery's Redis transport keeps a queue as a list named after it, in the broker.
        r = conn.default_channel.client
        r.delete("agent.h1", "agent.h2")
        try:
            client.post(reverse("halt-all"))
            assert r.llen("agent.h1") == 1 and r.llen("agent.h2") == 1
            client.logout()
            client.force_login(User.objects.create_user("root", is_superuser=True))
            client.post(reverse("halt-release"))
            assert r.llen("agent.h1") == 2 and r.llen("agent.h2") == 2  # the release too
            # Newest first (kombu pushes left); a Celery body is [args, kwargs, embed].
            envelope = json.loads(r.lindex("agent.h1", 0))
            [request] = json.loads(base64.b64decode(envelope["body"]))[0]
            assert request["signed"]["task"] == "drillhall.agent.release" and request["signature"]
        finally:
            r.delete("agent.h1", "agent.h2")


def test_the_banner_shows_to_every_user_and_release_only_to_admins(
    client: Client, world: World, admin: User, halt_redis: HaltFlag
) -> None:
    client.force_login(world.owner)
    client.post(reverse("halt-all"), {"reason": "game day over"})
    for person in (world.member, world.outsider):
        client.force_login(person)
        page = client.get(reverse("playbook-list")).content.decode()
        assert 'id="halt-banner"' in page and "game day over" in page
        assert 'id="release-button"' not in page and 'id="halt-button"' not in page
    client.force_login(admin)
    page = client.get(reverse("playbook-list")).content.decode()
    assert 'id="halt-banner"' in page and 'id="release-button"' in page


def test_the_kill_switch_is_offered_to_every_signed_in_user(
    client: Client, world: World, admin: User, halt_redis: HaltFlag
) -> None:
    for person in (world.owner, world.member, world.outsider, admin):
        client.force_login(person)
        page = client.get(reverse("playbook-list")).content.decode()
        assert 'id="halt-button"' in page and 'id="halt-banner"' not in page


def test_only_an_admin_releases(
    client: Client, world: World, admin: User, halt_redis: HaltFlag
) -> None:
    halt_all("set by the test", world.member)
    for person in (world.owner, world.member, world.outsider):
        client.force_login(person)
        assert client.post(reverse("halt-release")).status_code == 403
        assert Halt.objects.in_force().exists() and halt_redis.get() is not None
    client.force_login(admin)
    client.post(reverse("halt-release"))
    assert not Halt.objects.in_force().exists() and halt_redis.get() is None


def test_anonymous_users_are_sent_to_log_in(client: Client, db: None, halt_redis: HaltFlag) -> None:
    response = client.post(reverse("halt-all"))
    assert response.status_code == 302 and "/login" in response["Location"]
    assert current_halt() is None and not Halt.objects.exists()


def test_release_lifts_the_halt_and_records_who(
    client: Client, world: World, admin: User, halt_redis: HaltFlag
) -> None:
    client.force_login(world.member)
    client.post(reverse("halt-all"), {"reason": "x"})
    client.force_login(admin)
    page = client.post(reverse("halt-release"), follow=True).content.decode()
    assert current_halt() is None
    assert 'id="halt-banner"' not in page and 'id="halt-button"' in page
    halt = Halt.objects.get()
    assert halt.released_at is not None and halt.released_by == admin
    assert halt.released_by_name == "adela" and halt.by_name == "max"
    marker = halt_redis.released()
    assert marker is not None and marker.covers(halt.state()) and marker.by == "adela"


def test_halting_while_halted_keeps_the_first_halt(
    client: Client, world: World, halt_redis: HaltFlag
) -> None:
    first = halt_all("first", world.owner)
    again = halt_all("second", world.member)
    assert first.created and not again.created
    assert again.halt.id == first.halt.id and Halt.objects.get().reason == "first"


def test_halt_is_post_only_and_needs_a_csrf_token(world: World, halt_redis: HaltFlag) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.member)
    assert client.get(reverse("halt-all")).status_code == 405
    assert client.post(reverse("halt-all")).status_code == 403
    assert current_halt() is None


def test_it_returns_only_to_a_local_page(
    client: Client, world: World, admin: User, halt_redis: HaltFlag
) -> None:
    client.force_login(admin)
    response = client.post(reverse("halt-all"), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("playbook-list")
    response = client.post(reverse("halt-release"), {"next": "/playbooks/checkout-partition/"})
    assert response["Location"] == "/playbooks/checkout-partition/"


# -- the database is the authority -------------------------------------------------------------


def test_a_run_is_refused_while_the_database_says_halted_even_if_redis_lost_the_key(
    world: World, halt_redis: HaltFlag
) -> None:
    halt_all("no drills today", world.member)
    forget_redis(settings_url())
    assert halt_redis.get() is None
    run = start_run(world.version, world.owner)
    assert run.state == RunState.ABORTED and run.finished_at is not None
    assert run.result["reason"] == "halted: no drills today"
    assert run.plan is None and run.enqueued_at is None  # nothing was handed to anyone
    types = list(run.events.values_list("type", flat=True))
    assert types == ["abort", "state", "result"]


def settings_url() -> str:
    from django.conf import settings

    return str(settings.REDIS_URL)


def test_runs_in_progress_abort_on_the_database_halt_without_redis(
    world: World, halt_redis: HaltFlag
) -> None:
    from drills.web.halt import abort_reason

    assert abort_reason() is None
    halt_all("stop everything", world.member)
    forget_redis(settings_url())
    assert abort_reason() == "halted: stop everything"


def test_a_halt_holds_when_redis_is_down(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    result = halt_all("broker gone", world.member)
    assert result.created and result.redis_error and result.queues == []
    assert Halt.objects.in_force().get().reason == "broker gone"
    run = start_run(world.version, world.owner)
    assert run.state == RunState.ABORTED and run.result["reason"] == "halted: broker gone"
    assert DrillRun.objects.filter(state=RunState.PENDING).count() == 0


def test_a_release_while_redis_is_down_is_recorded_and_the_sync_finishes_it(
    world: World, admin: User, halt_redis: HaltFlag, settings: Any
) -> None:
    from drills.web.halt import release
    from drills.web.halt_sync import HaltSync

    halt_all("x", world.member)
    url = settings.REDIS_URL
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    result = release(admin, "test")
    assert result.halt is not None and result.redis_error
    assert not Halt.objects.in_force().exists()
    assert halt_redis.get() is not None  # the agents still see the key
    settings.REDIS_URL = url  # Redis is back
    assert current_halt() is None  # the server no longer calls it a halt
    done = HaltSync().sync()
    assert halt_redis.get() is None and halt_redis.released() is not None
    assert any("finished the release" in line for line in done)


def test_release_lifts_a_halt_only_redis_held(
    world: World, admin: User, halt_redis: HaltFlag
) -> None:
    from drills.web.halt import release

    halt_redis.set("set with redis-cli", now=1000.0)
    assert current_halt() is not None  # agents obey it: the server says so too
    result = release(admin, "test")
    assert result.orphan is not None and result.orphan.reason == "set with redis-cli"
    assert halt_redis.get() is None


def test_halting_and_releasing_are_audited_once_each_with_who_and_where(
    client: Client, world: World, admin: User, halt_redis: HaltFlag
) -> None:
    from drills.web.models import AuditEntry

    client.force_login(world.member)
    client.post(reverse("halt-all"), {"reason": "db1 on fire"}, REMOTE_ADDR="198.18.0.7")
    client.post(reverse("halt-all"), {"reason": "again"})  # already halted: no new entry
    client.force_login(admin)
    client.post(reverse("halt-release"), REMOTE_ADDR="198.18.0.8")
    entries = list(AuditEntry.objects.filter(object_type="halt").order_by("id"))
    assert [(e.action, e.actor_name, e.source) for e in entries] == [
        ("halt", "max", "198.18.0.7"),
        ("release", "adela", "198.18.0.8"),
    ]
    assert "db1 on fire" in entries[0].summary and entries[0].content_hash
