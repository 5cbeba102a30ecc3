"""`drillhall plan FILE`, through the real command line and a throw-away SQLite inventory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "partition-demo.yaml"
HOSTS = (
    "from drills.web.models import Host\n"
    "Host.objects.create(name='web', address='10.77.0.2', agent_queue='agent.web')\n"
    "Host.objects.create(name='db1', address='10.77.0.3', agent_queue='agent.db1')\n"
    "Host.objects.create(name='vault', address='10.77.0.20', agent_queue='agent.vault',"
    " protected=True)\n"
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    environment = dict(os.environ)
    environment["DRILLHALL_SQLITE_PATH"] = str(tmp_path_factory.mktemp("db") / "plan.sqlite3")
    environment.pop("DATABASE_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    for argv in (manage + ["migrate", "-v", "0"], manage + ["shell", "-c", HOSTS]):
        subprocess.run(
            argv, env=environment, cwd=ROOT, check=True, capture_output=True, timeout=120
        )
    return environment


def drillhall(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "drills.cli.main", "plan", *args]
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_plan_prints_a_table_blast_radius_and_length(env: dict[str, str]) -> None:
    result = drillhall(env, str(DEMO))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("path"))
    assert header.split() == ["path", "name", "fault", "host", "mechanism", "start", "duration"]
    fault_row = next(line for line in lines if "network.partition" in line)
    assert fault_row.split()[0] == "2" and "db1" in fault_row and "nftables" in fault_row
    assert fault_row.split()[-2:] == ["5s", "10s"]
    assert "  hosts:    db1" in lines
    assert "expected length: 15s" in lines
    # The partition's proof of effect: TCP collectors on db1 and on its peer web.
    collectors = lines[lines.index("kernel collectors:") + 1 :][:2]
    assert collectors == [
        "  db1: tcp_connect, tcp_resets, tcp_retransmits",
        "  web: tcp_connect, tcp_resets, tcp_retransmits",
    ]


def test_plan_json_is_the_plan_document(env: dict[str, str]) -> None:
    result = drillhall(env, str(DEMO), "--json")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["hosts"] == ["db1"] and document["expected_seconds"] == 15.0
    assert document["steps"][1]["faults"][0]["params"] == {
        "host": "db1",
        "peers": ["10.77.0.2"],
        "direction": "both",
    }


def test_invalid_playbook_exits_2_with_positions(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO.read_text().replace("duration: 10s", "duraton: 10s"))

    result = drillhall(env, str(bad))

    assert result.returncode == 2
    assert f"{bad}:23:5: unknown key 'duraton'" in result.stderr
    assert result.stdout == ""


def test_refused_plan_exits_4_and_lists_the_problems(env: dict[str, str], tmp_path: Path) -> None:
    risky = tmp_path / "risky.yaml"
    risky.write_text(
        DEMO.read_text().replace("db: {host: db1}", "db: {host: vault}\n  gone: {host: db9}")
    )

    result = drillhall(env, str(risky))

    assert result.returncode == 4
    assert "host 'db9', which is not in the inventory" in result.stderr


def test_a_protected_host_is_planned_with_a_warning_that_a_run_waits_for_approval(
    env: dict[str, str], tmp_path: Path
) -> None:
    risky = tmp_path / "risky.yaml"
    risky.write_text(DEMO.read_text().replace("db: {host: db1}", "db: {host: vault}"))

    result = drillhall(env, str(risky))

    assert result.returncode == 0, result.stderr
    assert "  - host 'vault' is protected: a run waits until an approver" in result.stdout


def test_a_drill_longer_than_its_limit_is_invalid_before_any_plan(
    env: dict[str, str], tmp_path: Path
) -> None:
    # No inventory is needed to know this, so plan says it as validate does: exit 2, a position.
    long = tmp_path / "long.yaml"
    long.write_text(
        DEMO.read_text().replace(
            "objectives: {rto: 30s}", "objectives: {rto: 30s}\nlimits: {max_duration: 10s}"
        )
    )

    result = drillhall(env, str(long))

    assert result.returncode == 2
    assert (
        f"{long}:23:15: the drill has run 15s when this fault ends, longer than " in result.stderr
    )
    assert "limits.max_duration (10s)" in result.stderr


def test_plan_json_names_a_canarys_secret_and_holds_no_value(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "named.yaml"
    path.write_text(
        DEMO.read_text().replace(
            "probes:\n",
            "probes:\n  - name: orders\n    canary: {postgres: {dsn_env: SHOP_PG_DSN}}\n",
            1,
        )
    )
    result = drillhall({**env, "SHOP_PG_DSN": "postgresql://a:hunter2@db1/x"}, str(path), "--json")

    assert result.returncode == 0, result.stderr
    (orders,) = [p for p in json.loads(result.stdout)["probes"] if p["name"] == "orders"]
    assert orders["params"] == {"store": "postgres", "dsn_env": "SHOP_PG_DSN"}
    assert "hunter2" not in result.stdout + result.stderr


def test_every_line_the_command_line_prints_is_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from drills.cli.main import say, say_err

    say("connecting to postgresql://shop:hunter2@db1/shop")
    say_err("FATAL: password=hunter2")
    out, err = capsys.readouterr()
    assert out == "connecting to postgresql://shop:<redacted>@db1/shop\n"
    assert err == "FATAL: password=<redacted>\n"
