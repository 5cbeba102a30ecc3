"""The orchestrator's end of the trusted agent channel: keys per host, the run's admission
ticket and the approval it carries. Real database; the broker is never reached here (a run
refused for a missing key must not send anything)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from drills.web import agents
from drills.web.agents import CeleryFaultDriver, RunAdmission, run_approval
from drills.web.approvals import approve_run, plan_hash
from drills.web.hosts import register_host
from drills.web.models import Approval, DrillRun, Host, Membership
from drills.web.orchestrator import execute_run
from drills.web.roles import Role
from drills.web.run_control import create_run
from injector.signing import ensure_agent_key
from tests.web.personas import World

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def credentials(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    settings.DRILLHALL_CREDENTIALS_DIR = tmp_path / "credentials"
    return settings.DRILLHALL_CREDENTIALS_DIR  # type: ignore[no-any-return]


@pytest.fixture
def run(world: World) -> DrillRun:
    register_host("web", "10.77.0.2", "dh-web")
    register_host("db1", "10.77.0.3", "dh-db1")
    return create_run(world.version, world.member)


def test_a_host_without_an_agent_key_ends_the_run_before_anything_is_sent(
    run: DrillRun, credentials: Path
) -> None:
    ensure_agent_key(credentials, "web")  # the probe host has one; the faulted host has none
    with mock.patch.object(agents.app, "send_task") as send_task:
        assert execute_run(run.key) == "error"
    send_task.assert_not_called()
    run.refresh_from_db()
    assert run.state == "error"
    assert run.result["reason"] == (
        "the run could not start: host db1 has no agent key; enrol it with `drillhall enrol db1`"
    )


def test_a_run_knows_which_host_each_queue_reaches(run: DrillRun, credentials: Path) -> None:
    driver = CeleryFaultDriver.for_run(run)
    assert driver.missing_keys() == [
        "host db1 has no agent key; enrol it with `drillhall enrol db1`"
    ]
    ensure_agent_key(credentials, "db1")
    assert driver.missing_keys() == []


def test_the_ticket_lasts_the_runs_max_duration_plus_a_margin(run: DrillRun) -> None:
    started = timezone.now() - timedelta(seconds=30)
    DrillRun.objects.filter(id=run.id).update(started_at=started)
    run.refresh_from_db()
    admission = RunAdmission.of(run, max_duration=600)
    lease = settings.DRILLHALL_LEASE_SECONDS
    assert admission.max_lease_seconds == lease
    expected = started.timestamp() + 600 + agents.TICKET_MARGIN_SECONDS + lease
    assert admission.expires == pytest.approx(expected)
    ticket = admission.ticket("db1")
    assert (ticket.run, ticket.host, ticket.approval) == (run.key, "db1", None)


def test_an_approved_run_carries_who_approved_which_version(world: World, run: DrillRun) -> None:
    assert run_approval(run) is None  # db1 is not protected: no approval needed, none sent
    Host.objects.filter(name="db1").update(protected=True)
    waiting = create_run(world.version, world.member)
    assert run_approval(waiting) is None
    ann = User.objects.create_user("ann", password="x")
    Membership.objects.create(user=ann, team=world.team, role=Role.APPROVER)
    approval = approve_run(
        waiting, ann, version_number=1, content_hash=world.version.content_hash, source="cli"
    )

    record = run_approval(waiting)

    assert record is not None
    assert (record.approved_by, record.playbook, record.version) == (
        "ann",
        "checkout-partition",
        world.version.number,
    )
    assert record.content_hash == world.version.content_hash
    assert record.approved_at == pytest.approx(approval.approved_at.timestamp())
    assert RunAdmission.of(waiting, 60).ticket("db1").approval == record


def test_an_approval_of_another_version_is_not_sent_to_the_agents(world: World) -> None:
    register_host("web", "10.77.0.2", "dh-web")
    register_host("db1", "10.77.0.3", "dh-db1")
    Host.objects.filter(name="db1").update(protected=True)
    run = create_run(world.version, world.member)
    ann = User.objects.create_user("ann", password="x")
    Approval.objects.create(
        run=run,
        approver=ann,
        approver_name="ann",
        playbook_name="checkout-partition",
        version_number=world.version.number + 1,
        content_hash=world.version.content_hash,
        plan_hash=plan_hash(run.plan),
    )

    assert run_approval(run) is None
