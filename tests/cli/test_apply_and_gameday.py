"""`drillhall apply` stores playbooks and game days all or nothing, idempotently; `drillhall
gameday start --wait` starts the workers it needs and exits with the combined verdict.

The real commands in their own processes, with their own SQLite file, on the test Redis; the
drills only wait (no lab, no agent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import PLAYBOOK, count, drillhall, manage

pytestmark = pytest.mark.timeout(240)
EXIT_INVALID, EXIT_NOT_ALLOWED = 2, 4


def two_waits(tmp: Path, extra: str = "") -> list[str]:
    a = tmp / "wait-a.yaml"
    b = tmp / "wait-b.yaml"
    a.write_text(PLAYBOOK.read_text().replace("name: wait-only", "name: wait-a"))
    b.write_text(PLAYBOOK.read_text().replace("name: wait-only", "name: wait-b"))
    day = tmp / "day.yaml"
    day.write_text(
        "apiVersion: drillhall/v1\nkind: GameDay\n"
        "metadata: {name: two-waits, goal: both pass, owner: platform-team}\n"
        "drills: [{playbook: wait-a}, {playbook: wait-b}]\n"
        f"policy: {{on_failure: stop, pause: 1s}}\n{extra}"
    )
    return [str(a), str(b), str(day)]


def stored(env: dict[str, str]) -> tuple[int, int, int, int]:
    return (
        count(env, "drills_playbook"),
        count(env, "drills_playbookversion"),
        count(env, "drills_gameday"),
        count(env, "drills_gamedayversion"),
    )


def test_apply_stores_everything_once_and_again_changes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    manage(env, "grant", "arthur", "author", "platform-team", "--create")
    files = two_waits(tmp_path)
    out = drillhall(env, "apply", *files, "--as", "arthur")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"{files[0]}: playbook wait-a created as v1 in team platform-team",
        f"{files[1]}: playbook wait-b created as v1 in team platform-team",
        f"{files[2]}: game day two-waits created as v1 in team platform-team",
    ]
    again = drillhall(env, "apply", *files, "--as", "arthur")
    assert again.stdout.splitlines()[2] == f"{files[2]}: game day two-waits unchanged (v1)"
    assert stored(env) == (2, 2, 1, 1)
    Path(files[2]).write_text(Path(files[2]).read_text().replace("pause: 1s", "pause: 2s"))
    third = drillhall(env, "apply", *files, "--as", "arthur")
    assert third.stdout.splitlines()[2] == f"{files[2]}: game day two-waits saved as v2"
    assert stored(env) == (2, 2, 1, 2)


def test_apply_with_one_bad_file_applies_nothing_and_says_where(
    env: dict[str, str], tmp_path: Path
) -> None:
    manage(env, "grant", "arthur", "author", "platform-team", "--create")
    files = two_waits(tmp_path, "schedule: {timezone: Mars/Olympus, cron: '0 10 * * *'}\n")
    out = drillhall(env, "apply", *files, "--as", "arthur")
    assert out.returncode == EXIT_INVALID
    assert f"{files[2]}:6:" in out.stderr and "Mars/Olympus" in out.stderr
    assert out.stderr.strip().endswith("nothing was applied")
    assert stored(env) == (0, 0, 0, 0)


def test_apply_refuses_a_game_day_naming_what_the_server_lacks(
    env: dict[str, str], tmp_path: Path
) -> None:
    manage(env, "grant", "arthur", "author", "platform-team", "--create")
    files = two_waits(tmp_path, "notify: [{channel: nowhere}]\n")
    out = drillhall(env, "apply", files[0], files[2], "--as", "arthur")
    assert out.returncode == EXIT_INVALID
    assert (
        f"{files[2]}: drill 2 names the playbook wait-b, which is neither on the server nor "
        "in this apply" in out.stderr
    )
    assert f"{files[2]}: the server has no notification channel nowhere" in out.stderr
    assert stored(env) == (0, 0, 0, 0)


def test_a_viewer_may_not_apply(env: dict[str, str], tmp_path: Path) -> None:
    manage(env, "grant", "vera", "viewer", "platform-team", "--create")
    out = drillhall(env, "apply", *two_waits(tmp_path), "--as", "vera")
    assert out.returncode == EXIT_NOT_ALLOWED
    assert "nothing was applied" in out.stderr
    assert stored(env) == (0, 0, 0, 0)


def test_gameday_start_wait_runs_both_drills_and_exits_0(
    env: dict[str, str], tmp_path: Path
) -> None:
    manage(env, "grant", "opal", "operator", "platform-team", "--create")
    manage(env, "grant", "opal", "author", "platform-team")
    out = drillhall(env, "apply", *two_waits(tmp_path), "--as", "opal")
    assert out.returncode == 0, out.stderr
    out = drillhall(env, "gameday", "start", "two-waits", "--wait", "--as", "opal")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "workers: started" in out.stdout
    assert any(line.startswith("  drill 1 (wait-a, run ") and ": passed" in line for line in lines)
    assert any(line.startswith("  drill 2 (wait-b, run ") and ": passed" in line for line in lines)
    assert "verdict: passed (every drill passed (2 of 2))" in lines


def test_gameday_start_without_the_operator_role_is_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    manage(env, "grant", "arthur", "author", "platform-team", "--create")
    drillhall(env, "apply", *two_waits(tmp_path), "--as", "arthur")
    out = drillhall(env, "gameday", "start", "two-waits", "--wait", "--as", "arthur")
    assert out.returncode == EXIT_NOT_ALLOWED
    assert "refused: To start, stop or pause game days of team platform-team arthur needs the " in (
        out.stderr
    )
    assert count(env, "drills_gamedayrun") == 0
