"""`drillhall approve` and `drillhall run` of a playbook that faults a protected host, through the
real command line, a throw-away SQLite database and the tests' Redis as the broker.

Personas as on the web: max starts runs, ann and bob approve them (approvers of the team).
No run here is ever approved into faulting anything: the approved ones stay queued.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.approval_queue import OrchestratorQueue

ROOT = Path(__file__).resolve().parents[2]
VAULT_STRESS = ROOT / "tests" / "fixtures" / "playbooks" / "approval" / "vault-stress.yaml"

# The world: a team with an operator (max) and two approvers, the vault host protected, and
# the vault-stress playbook in the team (so `drillhall run` finds it there).
SEED = f"""
from django.contrib.auth.models import Group, User
from drills.web.models import Host, Membership, Playbook
team = Group.objects.create(name="platform-team")
for name, role in [("max", "operator"), ("ann", "approver"), ("bob", "approver")]:
    user = User.objects.create_user(name, password="x")
    user.groups.add(team)
    Membership.objects.create(user=user, team=team, role=role)
Host.objects.create(name="vault", address="127.0.0.1", agent_queue="agent.vault", protected=True)
playbook = Playbook.objects.create(name="vault-stress", team=team)
playbook.save_version(open({str(VAULT_STRESS)!r}).read())
"""
# A run of the latest version started by max, as the web's Run button would: prints its id.
START = """
from django.contrib.auth.models import User
from drills.web.models import Playbook
from drills.web.run_control import start_run
run = start_run(Playbook.objects.get().latest_version(), User.objects.get(username="max"))
print(run.id, run.state, run.version.content_hash)
"""
# Read back what happened to a run: its state, reason, approvals and approvals audited.
SHOW = """
import sys
from drills.web.models import Approval, AuditEntry, DrillRun
run = DrillRun.objects.get(id=int(sys.argv[-1]))
print(run.state)
print(run.result.get("reason", ""))
print(",".join(a.approver_name for a in Approval.objects.filter(run=run)))
entries = AuditEntry.objects.filter(action="run_approve", object_type="run", object_id=str(run.id))
print(",".join(f"{e.actor_name}@{e.source}" for e in entries))
print(run.key)
"""


@pytest.fixture
def env(tmp_path: Path, needs_redis: str) -> dict[str, str]:
    environment = dict(os.environ)
    environment["DRILLHALL_SQLITE_PATH"] = str(tmp_path / "approve.sqlite3")
    environment["REDIS_URL"] = needs_redis
    environment["DRILLHALL_REAPER"] = "false"
    environment.pop("DATABASE_URL", None)
    manage(environment, "migrate", "-v", "0")
    manage(environment, "shell", "-v", "0", "-c", SEED)
    return environment


@pytest.fixture
def queue(needs_redis: str) -> Iterator[OrchestratorQueue]:
    q = OrchestratorQueue(needs_redis)
    q.clear()
    yield q
    q.clear()


def manage(env: dict[str, str], *args: str) -> str:
    argv = [sys.executable, str(ROOT / "manage.py"), *args]
    out = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def drillhall(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "drills.cli.main", *args]
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def started(env: dict[str, str]) -> tuple[str, str]:
    """A new run waiting for approval: its id and the content hash of its version."""
    run_id, state, content_hash = manage(env, "shell", "-v", "0", "-c", START).split()
    assert state == "awaiting_approval"
    return run_id, content_hash


def show(env: dict[str, str], run_id: str) -> list[str]:
    script = SHOW.replace("sys.argv[-1]", run_id)
    return manage(env, "shell", "-v", "0", "-c", script).rstrip("\n").split("\n")


def test_the_starter_cannot_approve_their_own_run(env, queue) -> None:  # type: ignore[no-untyped-def]
    run_id, content_hash = started(env)

    result = drillhall(
        env, "approve", run_id, "--as", "max", "--version", "1", "--hash", content_hash
    )

    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"run {run_id} not approved: you started run {run_id}: another person with the "
        "approver role in team platform-team must approve it"
    )
    state, _, approvers, audit, _ = show(env, run_id)
    assert (state, approvers, audit) == ("awaiting_approval", "", "")
    assert queue.run_keys() == []


def test_without_version_and_hash_it_shows_what_would_be_approved_and_approves_nothing(
    env, queue
) -> None:  # type: ignore[no-untyped-def]
    run_id, content_hash = started(env)

    result = drillhall(env, "approve", run_id, "--as", "ann")

    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0] == f"run {run_id}: vault-stress v1, awaiting approval"
    assert f"  content sha256: {content_hash}" in lines
    assert "  protected hosts: vault" in lines
    row = ["1", "stress.cpu", "on", "vault", "stress.cpu", "vault", "stress", "0s", "2s"]
    assert row in [line.split() for line in lines]  # the plan table
    assert "  hosts:    vault" in lines  # the blast radius
    assert lines[-1] == f"  drillhall approve {run_id} --as ann --version 1 --hash {content_hash}"
    assert "say which version and hash you reviewed" in result.stderr
    assert show(env, run_id)[:3] == ["awaiting_approval", "", ""]
    assert queue.run_keys() == []


def test_an_approver_approves_the_version_they_reviewed_and_the_run_is_queued(env, queue) -> None:  # type: ignore[no-untyped-def]
    run_id, content_hash = started(env)

    wrong = drillhall(env, "approve", run_id, "--as", "ann", "--version", "1", "--hash", "0" * 64)
    assert wrong.returncode == 2 and "reload its page and look again" in wrong.stderr
    result = drillhall(
        env, "approve", run_id, "--as", "ann", "--version", "1", "--hash", content_hash
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"run {run_id} approved by ann: vault-stress v1 ({content_hash[:12]}); it is handed to "
        "the orchestrator"
    )
    state, _, approvers, audit, key = show(env, run_id)
    assert (state, approvers, audit) == ("pending", "ann", "ann@cli")
    assert queue.run_keys() == [key]


def test_two_approvers_at_once_give_one_approval(env, queue) -> None:  # type: ignore[no-untyped-def]
    run_id, content_hash = started(env)
    # Both processes load Django first, then call approve_run at the same instant.
    go = time.time() + 4.0
    race = (
        "import sys, time\n"
        "from django.contrib.auth.models import User\n"
        "from drills.web.approvals import ApprovalRefused, approve_run\n"
        "from drills.web.models import DrillRun\n"
        f"run = DrillRun.objects.get(id={run_id})\n"
        "user = User.objects.get(username=sys.argv[-1])\n"
        f"time.sleep(max(0.0, {go} - time.time()))\n"
        "try:\n"
        f"    approve_run(run, user, version_number=1, content_hash={content_hash!r}, "
        "source='cli')\n"
        "    print('approved')\n"
        "except ApprovalRefused as exc:\n"
        "    print('refused:', exc)\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "shell", "-v", "0", "-c", race.replace(
                "sys.argv[-1]", repr(name))],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name in ("ann", "bob")
    ]  # fmt: skip
    outcomes = [p.communicate(timeout=60) for p in procs]

    said = sorted(out.strip() for out, _ in outcomes)
    assert said[0] == "approved", outcomes
    assert said[1].startswith(f"refused: run {run_id} was already approved by "), outcomes
    state, _, approvers, audit, key = show(env, run_id)
    assert state == "pending" and approvers in ("ann", "bob")
    assert audit == f"{approvers}@cli"
    assert queue.run_keys() == [key]


@pytest.mark.timeout(180)
def test_drillhall_run_says_where_to_approve_and_gives_up_with_exit_5(env, queue) -> None:  # type: ignore[no-untyped-def]
    env = {**env, "DRILLHALL_URL": "https://drillhall.example.com"}

    result = drillhall(
        env, "run", str(VAULT_STRESS), "--as", "max", "--approval-wait", "2", timeout=150
    )

    assert result.returncode == 5, result.stdout + result.stderr
    out = result.stdout
    assert "run 1: vault-stress v1 faults protected host vault and waits for approval by an " \
        "approver of team platform-team other than max:" in out  # fmt: skip
    assert "  the run page: https://drillhall.example.com/runs/1/" in out
    assert "  or: drillhall approve 1 --as USERNAME" in out
    assert "  waiting up to 2 s (--approval-wait); Ctrl-C cancels the run" in out
    assert result.stderr.strip().endswith(
        "run 1 was not approved: cancelled while it waited for approval (drillhall run stopped "
        "waiting after 2 s)"
    )
    assert show(env, "1")[:3] == ["aborted", "cancelled while it waited for approval "
                                  "(drillhall run stopped waiting after 2 s)", ""]  # fmt: skip
    assert queue.run_keys() == []


@pytest.mark.timeout(180)
def test_drillhall_run_exits_5_when_an_approver_declines(env, queue) -> None:  # type: ignore[no-untyped-def]
    argv = [sys.executable, "-m", "drills.cli.main", "run", str(VAULT_STRESS), "--as", "max"]
    proc = subprocess.Popen(
        argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 90
        while manage(env, "shell", "-v", "0", "-c", "from drills.web.models import DrillRun\n"
                     "print(DrillRun.objects.filter(state='awaiting_approval').count())"
                     ).strip() != "1":  # fmt: skip
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)

        declined = drillhall(env, "approve", "1", "--as", "bob", "--decline", "not today")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert declined.returncode == 0, declined.stderr
    assert declined.stdout.strip() == "run 1 declined by bob: it ended without a fault"
    assert proc.returncode == 5, out + err
    assert err.strip().endswith("run 1 was not approved: declined by bob: not today")
    assert show(env, "1")[:4] == ["aborted", "declined by bob: not today", "", "bob@cli"]
    assert queue.run_keys() == []


def test_drillhall_run_without_a_starter_is_refused_with_a_sentence(env, queue) -> None:  # type: ignore[no-untyped-def]
    # drillhall run acts as a person: without one it refuses before anything is saved
    # (create_run still ends a starterless run that needs approval, for other callers).
    result = drillhall(env, "run", str(VAULT_STRESS), timeout=150)

    assert result.returncode == 4
    assert "drillhall run acts as a person: name one with --as USERNAME" in result.stderr
    assert queue.run_keys() == []
