"""Approval by another person, pinned to a version (drills/web/approvals.py), through the real
views, the real orchestrator entry point, the real reaper and the real broker queue.

Personas: max starts runs (operator), ann and bob are approvers of the team, olive owns the
playbook, otto is outside the team.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from drills.engine.states import RunState
from drills.web import approvals
from drills.web.approvals import ApprovalRefused, approval_problem, approve_run
from drills.web.hosts import register_host
from drills.web.liveness import Reaper
from drills.web.models import Approval, AuditEntry, DrillRun, Host, Membership
from drills.web.orchestrator import execute_run
from drills.web.roles import Role
from tests.web.approval_queue import OrchestratorQueue
from tests.web.personas import PASSWORD, World

pytestmark = pytest.mark.django_db

RUN_URL = reverse("playbook-run", args=["checkout-partition"])


@pytest.fixture
def queue(needs_redis: str) -> Iterator[OrchestratorQueue]:
    # The broker the app sends to is the tests' Redis (REDIS_URL): read it there.
    assert settings.CELERY_BROKER_URL == needs_redis, "the tests' broker must be their Redis"
    q = OrchestratorQueue(needs_redis, settings.DRILLHALL_ORCHESTRATOR_QUEUE)
    q.clear()
    yield q
    q.clear()


@pytest.fixture
def protected(world: World) -> None:
    register_host("web", "10.77.0.2", "dh-web")
    register_host("db1", "10.77.0.3", "dh-db1")
    Host.objects.filter(name="db1").update(protected=True)
    Membership.objects.get_or_create(user=world.member, team=world.team, role=Role.OPERATOR)


def approver(world: World, name: str) -> User:
    user = User.objects.create_user(name, password=PASSWORD)
    user.groups.add(world.team)
    Membership.objects.create(user=user, team=world.team, role=Role.APPROVER)
    return user


@pytest.fixture
def ann(world: World) -> User:
    return approver(world, "ann")


@pytest.fixture
def bob(world: World) -> User:
    return approver(world, "bob")


def start(client: Client, user: User) -> DrillRun:
    client.force_login(user)
    response = client.post(RUN_URL)
    assert response.status_code == 302
    return DrillRun.objects.order_by("-id").first()


def approve(client: Client, user: User, run: DrillRun, **fields: object):  # type: ignore[no-untyped-def]
    client.force_login(user)
    data = {"version": run.version.number, "content_hash": run.version.content_hash, **fields}
    return client.post(reverse("run-approve", args=[run.id]), data)


def approvals_audited():  # type: ignore[no-untyped-def]
    """The audit log's approvals and declines (starting a run may be audited too)."""
    return AuditEntry.objects.filter(action="run_approve")


def events(run: DrillRun) -> list[tuple[str, dict]]:
    return [(e.type, e.data) for e in run.events.order_by("seq")]


# -- waiting ---------------------------------------------------------------------------


def test_a_run_that_faults_a_protected_host_waits_and_is_never_queued(
    client: Client, world: World, protected, queue: OrchestratorQueue
) -> None:
    run = start(client, world.member)

    assert run.state == RunState.AWAITING_APPROVAL
    assert run.plan["protected"] == ["db1"]
    assert run.enqueued_at is None and run.started_at is None
    assert queue.run_keys() == []
    (state_type, state), (approval_type, asked) = events(run)
    assert (state_type, state) == ("state", {"state": "awaiting_approval", "previous": "pending"})
    assert approval_type == "approval" and asked["decision"] == "requested"
    assert asked["by"] == "max" and asked["hosts"] == ["db1"]
    assert asked["message"] == (
        f"run {run.id} faults protected host db1: it starts once an approver of team "
        "platform-team other than max approves it"
    )


def test_a_run_without_protected_hosts_is_queued_at_once(
    client: Client, world: World, protected, queue: OrchestratorQueue
) -> None:
    Host.objects.filter(name="db1").update(protected=False)

    run = start(client, world.member)

    assert run.state == RunState.PENDING
    assert queue.run_keys() == [run.key]
    assert approval_problem(run) is None


def test_the_reaper_never_queues_a_waiting_run_and_ends_it_after_the_limit(
    client: Client, world: World, protected, queue: OrchestratorQueue
) -> None:
    run = start(client, world.member)
    DrillRun.objects.filter(id=run.id).update(created_at=timezone.now() - timedelta(hours=1))

    # Eager to re-queue and to end pending runs: none of that touches a run awaiting approval.
    Reaper(requeue_seconds=0, pending_limit=0, approval_limit=2 * 3600).sweep()
    run.refresh_from_db()
    assert run.state == RunState.AWAITING_APPROVAL and run.enqueued_at is None
    assert queue.run_keys() == []

    Reaper(approval_limit=1800).sweep()
    run.refresh_from_db()
    assert run.state == RunState.ABORTED and run.finished_at is not None
    assert run.result["reason"] == (
        "nobody approved the run within 30 min (DRILLHALL_APPROVAL_LIMIT_SECONDS); start it "
        "again and ask an approver of team platform-team"
    )
    assert [t for t, _ in events(run)][-3:] == ["approval", "state", "result"]
    assert queue.run_keys() == []


def test_a_cli_run_with_nobody_as_its_starter_cannot_wait_for_another_person(
    world: World, protected
) -> None:
    from drills.web.run_control import create_run

    run = create_run(world.version, None, source="cli")

    assert run.state == RunState.ERROR
    assert "nobody is recorded as starting it; start it as a named user" in run.result["reason"]
    assert "drillhall run --as USERNAME" in run.result["reason"]


# -- who may approve ------------------------------------------------------------------------


def test_the_starter_cannot_approve_their_own_run_even_as_an_approver(
    client: Client, world: World, protected, queue: OrchestratorQueue
) -> None:
    Membership.objects.get_or_create(user=world.member, team=world.team, role=Role.APPROVER)
    run = start(client, world.member)

    response = approve(client, world.member, run)

    assert response.status_code == 403
    run.refresh_from_db()
    assert run.state == RunState.AWAITING_APPROVAL
    assert not Approval.objects.exists() and not approvals_audited().exists()
    assert queue.run_keys() == []


def test_an_admin_who_started_the_run_cannot_approve_it_either(
    client: Client, world: World, protected, queue: OrchestratorQueue
) -> None:
    root = User.objects.create_superuser("root", password=PASSWORD)
    run = start(client, root)

    with pytest.raises(ApprovalRefused, match=f"you started run {run.id}: another person"):
        approve_run(run, root, version_number=1, content_hash=run.version.content_hash, source="")
    assert approve(client, root, run).status_code == 403
    assert not Approval.objects.exists()


@pytest.mark.parametrize("who", ["owner", "operator", "outsider"])
def test_only_the_approver_role_may_approve(
    client: Client, world: World, protected, queue: OrchestratorQueue, who: str
) -> None:
    run = start(client, world.member)
    other = User.objects.create_user("oscar", password=PASSWORD)
    other.groups.add(world.team)
    Membership.objects.create(user=other, team=world.team, role=Role.OPERATOR)
    user = {"owner": world.owner, "operator": other, "outsider": world.outsider}[who]

    response = approve(client, user, run)

    # The outsider cannot even see the run (404); the others see it but may not approve.
    assert response.status_code == (404 if who == "outsider" else 403)
    assert not Approval.objects.exists()
    assert queue.run_keys() == []


def test_approving_needs_a_post_with_a_csrf_token(
    client: Client, world: World, protected, ann: User
) -> None:
    run = start(client, world.member)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(ann)
    url = reverse("run-approve", args=[run.id])

    assert strict.get(url).status_code == 405
    assert strict.post(url, {"version": 1}).status_code == 403
    assert not Approval.objects.exists()


# -- approving --------------------------------------------------------------------------


def test_an_approver_approves_and_the_run_is_queued_once_and_audited(
    client: Client, world: World, protected, ann: User, queue: OrchestratorQueue
) -> None:
    run = start(client, world.member)

    response = approve(client, ann, run)

    assert response.status_code == 302
    run.refresh_from_db()
    assert run.state == RunState.PENDING and run.enqueued_at is not None
    assert queue.run_keys() == [run.key]
    approval = Approval.objects.get()
    version = world.version
    assert (approval.run, approval.approver, approval.approver_name) == (run, ann, "ann")
    assert (approval.playbook_name, approval.version_number, approval.content_hash) == (
        "checkout-partition",
        1,
        version.content_hash,
    )
    assert approval.plan_hash == approvals.plan_hash(run.plan)
    assert approval_problem(run) is None
    entry = approvals_audited().get()
    assert (entry.action, entry.actor_name, entry.object_type, entry.object_id) == (
        "run_approve",
        "ann",
        "run",
        str(run.id),  # as every other entry about a run
    )
    assert entry.source == "127.0.0.1"
    # The entry's hash is the approved text's: the version's own content hash.
    assert entry.content_hash == version.content_hash
    assert entry.summary == (
        f"ann approved run {run.id} of checkout-partition v1, which faults protected host db1, "
        "started by max"
    )
    approved, state = events(run)[-2:]
    assert approved[0] == "approval" and approved[1]["decision"] == "approved"
    assert approved[1]["by"] == "ann" and approved[1]["content_hash"] == version.content_hash
    assert state == ("state", {"state": "pending", "previous": "awaiting_approval"})


def test_an_approval_for_v3_does_not_let_a_v4_run_start(
    client: Client, world: World, protected, ann: User, queue: OrchestratorQueue
) -> None:
    for n in (2, 3):
        world.playbook.save_version(world.version.content + f"\n# v{n}\n", author=world.owner)
    v3_run = start(client, world.member)
    assert approve(client, ann, v3_run).status_code == 302
    v3 = v3_run.version
    assert v3.number == 3 and queue.run_keys() == [v3_run.key]

    v4 = world.playbook.save_version(v3.content + "\n# v4\n", author=world.owner)
    v4_run = start(client, world.member)
    assert v4_run.version == v4

    # The v4 run waits for its own approval: v3's is not it.
    assert v4_run.state == RunState.AWAITING_APPROVAL and queue.run_keys() == [v3_run.key]
    assert "nobody approved it" in approval_problem(v4_run)
    # An approver who was shown v3 cannot approve the v4 run with it.
    response = approve(client, ann, v4_run, version=3, content_hash=v3.content_hash)
    assert response.status_code == 302
    v4_run.refresh_from_db()
    assert v4_run.state == RunState.AWAITING_APPROVAL
    assert Approval.objects.filter(run=v4_run).count() == 0
    assert queue.run_keys() == [v3_run.key]
    page = client.get(reverse("run-detail", args=[v4_run.id])).content.decode()
    assert f"you were shown v3 ({v3.content_hash[:12]}) but run {v4_run.id} is of" in page

    # Even an approval row naming v3 written straight into the database (and the run flipped
    # to pending behind the approval's back) does not make the orchestrator start it.
    Approval.objects.create(
        run=v4_run,
        approver=ann,
        approver_name="ann",
        playbook_name="checkout-partition",
        version_number=3,
        content_hash=v3.content_hash,
        plan_hash=approvals.plan_hash(v4_run.plan),
    )
    DrillRun.objects.filter(id=v4_run.id).update(state=RunState.PENDING)
    # (The v3 run, still pending, faults the same host: it has ended, so v4 is not queued.)
    DrillRun.objects.filter(id=v3_run.id).update(state=RunState.PASSED, finished_at=timezone.now())
    assert execute_run(v4_run.key) == "error"
    v4_run.refresh_from_db()
    assert v4_run.state == RunState.ERROR
    assert v4_run.result["reason"] == (
        f"the run could not start: the approval by ann is for checkout-partition v3 "
        f"({v3.content_hash[:12]}), but run {v4_run.id} is of checkout-partition v4 "
        f"({v4.content_hash[:12]}): a different version needs an approval of its own"
    )
    assert not any(t.startswith("fault") for t, _ in events(v4_run))


def test_a_changed_plan_after_approval_does_not_start(
    client: Client, world: World, protected, ann: User, queue: OrchestratorQueue
) -> None:
    run = start(client, world.member)
    approve(client, ann, run)
    plan = dict(DrillRun.objects.get(id=run.id).plan)
    plan["hosts"] = ["db1", "web"]
    DrillRun.objects.filter(id=run.id).update(plan=plan)

    assert execute_run(run.key) == "error"
    run.refresh_from_db()
    assert "stored plan is not the one ann approved" in run.result["reason"]


def test_a_waiting_run_is_not_claimed_by_a_stray_orchestrator_message(
    client: Client, world: World, protected
) -> None:
    run = start(client, world.member)

    assert execute_run(run.key) == "awaiting approval"
    run.refresh_from_db()
    assert run.state == RunState.AWAITING_APPROVAL and run.started_at is None


def test_two_approvals_at_once_give_one(
    client: Client,
    world: World,
    protected,
    ann: User,
    bob: User,
    queue: OrchestratorQueue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = start(client, world.member)
    h = run.version.content_hash
    # Both read "awaiting approval" before either wrote: bob's look is stale by the time he
    # writes, so only the compare-and-set on the row stands between him and a second approval.
    stale = DrillRun.objects.get(id=run.id)
    approve_run(run, ann, version_number=1, content_hash=h, source="")
    real_check = approvals._still_waiting
    monkeypatch.setattr(approvals, "_still_waiting", lambda r: None)
    with pytest.raises(ApprovalRefused):
        approve_run(stale, bob, version_number=1, content_hash=h, source="")
    monkeypatch.setattr(approvals, "_still_waiting", real_check)

    assert [a.approver_name for a in Approval.objects.all()] == ["ann"]
    assert approvals_audited().count() == 1
    assert queue.run_keys() == [run.key]
    assert [d["decision"] for t, d in events(run) if t == "approval"] == ["requested", "approved"]
    with pytest.raises(ApprovalRefused, match=f"run {run.id} was already approved by ann at"):
        approve_run(stale, bob, version_number=1, content_hash=h, source="")


def test_a_run_approved_late_gets_the_full_pending_time_from_its_approval(
    client: Client, world: World, protected, ann: User, queue: OrchestratorQueue
) -> None:
    run = start(client, world.member)
    DrillRun.objects.filter(id=run.id).update(created_at=timezone.now() - timedelta(hours=2))
    approve(client, ann, run)

    Reaper(pending_limit=600, requeue_seconds=30).sweep()

    run.refresh_from_db()
    assert run.state == RunState.PENDING and run.finished_at is None
    assert queue.run_keys() == [run.key]  # handed over once, by the approval


# -- declining and cancelling -----------------------------------------------------------


def test_declining_ends_the_run_with_a_sentence_and_an_audit_entry(
    client: Client, world: World, protected, ann: User, bob: User, queue: OrchestratorQueue
) -> None:
    run = start(client, world.member)
    client.force_login(bob)

    response = client.post(reverse("run-decline", args=[run.id]), {"reason": "not during the sale"})

    assert response.status_code == 302
    run.refresh_from_db()
    assert run.state == RunState.ABORTED and run.finished_at is not None
    assert run.result["reason"] == "declined by bob: not during the sale"
    entry = approvals_audited().get()
    assert (entry.action, entry.actor_name, entry.object_id) == ("run_approve", "bob", str(run.id))
    assert entry.summary == (
        f"bob declined run {run.id} of checkout-partition v1: not during the sale"
    )
    assert queue.run_keys() == []
    with pytest.raises(ApprovalRefused, match=f"run {run.id} is not waiting for an approval"):
        approve_run(run, ann, version_number=1, content_hash=run.version.content_hash, source="")


def test_the_starter_cannot_decline_but_cancels_with_abort(
    client: Client, world: World, protected, queue: OrchestratorQueue
) -> None:
    run = start(client, world.member)

    assert client.post(reverse("run-decline", args=[run.id])).status_code == 403
    response = client.post(reverse("run-abort", args=[run.id]))

    assert response.status_code == 302
    run.refresh_from_db()
    assert run.state == RunState.ABORTED
    assert run.result["reason"] == "cancelled while it waited for approval (aborted by max)"
    assert [d["decision"] for t, d in events(run) if t == "approval"] == [
        "requested",
        "cancelled",
    ]
    assert queue.run_keys() == []


# -- the pages --------------------------------------------------------------------------


def test_the_playbook_page_says_a_run_will_wait_instead_of_a_checkbox(
    client: Client, world: World, protected
) -> None:
    client.force_login(world.member)
    page = client.get(reverse("playbook-detail", args=["checkout-partition"])).content.decode()

    assert 'name="approve_protected"' not in page
    assert 'id="needs-approval"' in page
    assert "faults protected\n      host db1: a run waits until an" in page
    Host.objects.filter(name="db1").update(protected=False)
    page = client.get(reverse("playbook-detail", args=["checkout-partition"])).content.decode()
    assert 'id="needs-approval"' not in page


def test_the_run_page_shows_the_pending_approval_and_the_buttons_only_to_approvers(
    client: Client, world: World, protected, ann: User
) -> None:
    run = start(client, world.member)
    url = reverse("run-detail", args=[run.id])

    client.force_login(ann)
    page = client.get(url).content.decode()
    assert 'id="approve-form"' in page and 'id="decline-form"' in page
    assert f'name="content_hash" value="{run.version.content_hash}"' in page
    assert 'name="version" value="1"' in page
    assert "Waiting for approval" in page
    assert 'id="approval-plan"' in page and 'id="approval-blast-radius"' in page
    assert "Blast radius: db1" in page
    assert f'<code id="approval-hash">{run.version.content_hash}</code>' in page
    assert '<dd id="approval-asker">max,' in page
    assert 'id="approval-deadline"' in page

    for user, refusal in [
        (world.member, f"You started run {run.id}: another person with the approver role"),
        (world.owner, "To approve runs of checkout-partition you need the approver role"),
    ]:
        client.force_login(user)
        page = client.get(url).content.decode()
        assert "Waiting for approval" in page and 'id="approval-plan"' in page
        assert 'id="approve-form"' not in page
        assert refusal in page


def test_after_approval_the_run_page_shows_who_approved_when_and_which_version(
    client: Client, world: World, protected, ann: User, queue: OrchestratorQueue
) -> None:
    run = start(client, world.member)
    approve(client, ann, run)
    approval = Approval.objects.get()

    client.force_login(world.member)
    page = client.get(reverse("run-detail", args=[run.id])).content.decode()

    assert (
        "Approved by <strong>ann</strong> at " + approval.approved_at.strftime("%Y-%m-%d %H:%M:%S")
        in page
    )
    assert f"for checkout-partition v1, content sha256 <code>{approval.content_hash}</code>" in page
    assert 'id="approve-form"' not in page
    assert 'data-decision="approved"' in page


def test_the_run_document_and_report_say_who_approved_which_version(
    client: Client, world: World, protected, ann: User, queue: OrchestratorQueue
) -> None:
    from drills.report.html import render_html
    from drills.web.run_document import run_document

    run = start(client, world.member)
    assert run_document(run)["approval"] is None
    approve(client, ann, run)
    approval = Approval.objects.get()

    doc = run_document(DrillRun.objects.get(id=run.id))

    assert doc["approval"] == {
        "approver": "ann",
        "approved_at": approval.approved_at.isoformat(),
        "playbook": "checkout-partition",
        "version": 1,
        "content_hash": run.version.content_hash,
        "plan_hash": approvals.plan_hash(run.plan),
    }
    # The report names the approver and the version it runs (the approved one) by its hash.
    html = render_html(doc)
    assert " Approved by <strong>ann</strong> at " in html
    assert "run 1, version 1" in html and run.version.content_hash in html
