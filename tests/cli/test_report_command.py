"""`drillhall report RUN`: through the real command line and a throw-away SQLite database
holding a stored lab run. It reads as a person, under the web's view rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "reports" / "redis-failover-run.json"
PLAYBOOK = ROOT / "examples" / "redis-failover.yaml"

# A team with a viewer (vera), an outsider (otto), and the stored run of its playbook.
SEED = f"""
import json
from django.contrib.auth.models import Group, User
from drills.web.models import DrillRun, Membership, Playbook, RunEvent
team = Group.objects.create(name="platform-team")
vera = User.objects.create_user("vera", password="x")
Membership.objects.create(user=vera, team=team, role="viewer")
User.objects.create_user("otto", password="x")
playbook = Playbook.objects.create(name="redis-failover", team=team)
version = playbook.save_version(open({str(PLAYBOOK)!r}).read())
doc = json.load(open({str(FIXTURE)!r}))
run = DrillRun.objects.create(
    version=version, started_by=vera, state="passed", result=doc["result"], plan=doc["plan"]
)
RunEvent.objects.bulk_create(
    RunEvent(run=run, seq=e["seq"], type=e["type"], t=e["t"], data=e["data"])
    for e in doc["events"]
)
print(run.id)
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    environment = dict(os.environ)
    environment["DRILLHALL_SQLITE_PATH"] = str(tmp_path_factory.mktemp("db") / "report.sqlite3")
    environment["DRILLHALL_REAPER"] = "false"
    environment.pop("DATABASE_URL", None)
    environment.pop("DRILLHALL_USER", None)
    manage(environment, "migrate", "-v", "0")
    run_id = manage(environment, "shell", "-v", "0", "-c", SEED).strip()
    assert run_id == "1"
    return environment


def manage(env: dict[str, str], *args: str) -> str:
    argv = [sys.executable, str(ROOT / "manage.py"), *args]
    out = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def drillhall(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-m", "drills.cli.main", *args]
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, timeout=120)


def test_a_viewer_gets_the_markdown_report_on_stdout(env: dict[str, str]) -> None:
    out = drillhall(env, "report", "1", "--format", "md", "--as", "vera")
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert text.startswith("# redis-failover: run 1 passed")
    assert "**RTO:** 8.69 s (objective 30 s, met)" in text


def test_pdf_and_json_go_to_the_file_named(env: dict[str, str], tmp_path: Path) -> None:
    pdf, data = tmp_path / "r.pdf", tmp_path / "r.json"
    assert (
        drillhall(env, "report", "1", "--format", "pdf", "-o", str(pdf), "--as", "vera").returncode
        == 0
    )
    assert pdf.read_bytes().startswith(b"%PDF")
    assert (
        drillhall(
            env, "report", "1", "--format", "json", "-o", str(data), "--as", "vera"
        ).returncode
        == 0
    )
    assert json.loads(data.read_text())["verdict"] == "passed"


def test_someone_outside_the_team_is_refused(env: dict[str, str]) -> None:
    out = drillhall(env, "report", "1", "--format", "md", "--as", "otto")
    assert out.returncode == 4 and out.stdout == b""
    assert b"otto" in out.stderr


def test_it_reads_as_a_person(env: dict[str, str]) -> None:
    out = drillhall(env, "report", "1", "--format", "md")
    assert out.returncode == 4
    assert b"--as USERNAME" in out.stderr


def test_an_unknown_run_says_so(env: dict[str, str]) -> None:
    out = drillhall(env, "report", "99", "--format", "md", "--as", "vera")
    assert out.returncode == 2
    assert out.stderr.decode().strip() == "there is no run '99' in this Drillhall's database"
