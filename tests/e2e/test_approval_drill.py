"""A real drill on a protected host: `drillhall run --as max` waits, max cannot approve it, ann
approves it with `drillhall approve`, and the partition drill then runs and passes on the lab."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import have_root, redis_up, require
from tests.e2e.stack import ROOT, cli, manage, nft_tables, stack_env
from tests.web.site import worker_redis_url

EXAMPLE = ROOT / "examples" / "partition-demo.yaml"
# A team with an operator and an approver, the demo playbook in it, and db1 protected.
SEED = """
from django.contrib.auth.models import Group, User
from drills.web.models import Host, Membership, Playbook
team = Group.objects.create(name="platform-team")
# max saves the example and starts it (author, operator); ann approves.
for name, role in [("max", "author"), ("max", "operator"), ("ann", "approver")]:
    user = User.objects.filter(username=name).first() or User.objects.create_user(name, "", "x")
    user.groups.add(team)
    Membership.objects.create(user=user, team=team, role=role)
assert Host.objects.filter(name="db1").update(protected=True) == 1
Playbook.objects.create(name="partition-demo", team=team)
"""
WAITING = (
    "from drills.web.models import DrillRun\n"
    "run = DrillRun.objects.filter(state='awaiting_approval').first()\n"
    "print(run.version.content_hash if run else '')"
)


@pytest.mark.timeout(300)
def test_a_drill_on_a_protected_host_runs_once_another_person_approved_it(
    tmp_path: Path,
) -> None:
    require(have_root(), "needs root (the lab)")
    redis_url = worker_redis_url()  # no workers listen here: the CLI starts its own
    require(redis_up(redis_url), "needs Redis")
    env = stack_env(tmp_path, redis_url)
    manage(env, "migrate", "--noinput", timeout=120)
    up = cli(env, "lab", "up")
    assert up.returncode == 0, up.stderr
    proc = None
    try:
        manage(env, "shell", "-v", "0", "-c", SEED)
        argv = [sys.executable, "-m", "drills.cli.main", "run", str(EXAMPLE), "--as", "max"]
        proc = subprocess.Popen(  # noqa: S603
            [*argv, "--quiet", "--approval-wait", "120"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while not (content_hash := manage(env, "shell", "-v", "0", "-c", WAITING).strip()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never waited for approval"
            time.sleep(0.5)
        assert nft_tables("dh-db1") == []  # nothing applied while it waits

        own = cli(env, "approve", "1", "--as", "max", "--version", "1", "--hash", content_hash)
        approved = cli(env, "approve", "1", "--as", "ann", "--version", "1", "--hash", content_hash)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        tables = nft_tables("dh-db1") + nft_tables("dh-web")
        cli(env, "lab", "down")

    assert own.returncode == 2 and "you started run 1" in own.stderr
    assert approved.returncode == 0, approved.stderr
    assert proc.returncode == 0, out + err
    assert "run 1: partition-demo v1 faults protected host db1 and waits for approval" in out
    assert "approval: approved by ann: partition-demo v1" in out
    assert "state: awaiting approval" in out and "verdict: passed" in out
    assert out.index("state: awaiting approval") < out.index("approval: approved by ann")
    assert tables == [], "a drillhall nft table outlived the run"
