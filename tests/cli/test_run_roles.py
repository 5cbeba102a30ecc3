"""`drillhall run` acts as a named user and is held to that user's roles.

The real command in its own process, with its own SQLite file, on the test Redis: without a
name, or as a viewer, it is refused with a sentence and exit code 4 and saves nothing; as an
operator it starts an orchestrator worker, runs the drill and passes. The drill only waits
(tests/fixtures/playbooks/cli/wait-only.yaml), so no lab or agent is involved.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.cli.conftest import PLAYBOOK, count, drillhall, manage

EXIT_NOT_ALLOWED = 4

pytestmark = pytest.mark.timeout(240)


def saved(env: dict[str, str]) -> tuple[int, int, int]:
    return (
        count(env, "drills_playbook"),
        count(env, "drills_playbookversion"),
        count(env, "drills_drillrun"),
    )


def test_without_a_name_it_says_how_to_give_one(env: dict[str, str]) -> None:
    out = drillhall(env, "run", str(PLAYBOOK))
    assert out.returncode == EXIT_NOT_ALLOWED, out.stderr
    assert "drillhall run acts as a person: name one with --as USERNAME or DRILLHALL_USER" in (
        out.stderr
    )
    assert "Traceback" not in out.stderr
    assert saved(env) == (0, 0, 0)


def test_a_viewer_is_refused_and_an_operator_runs_it(env: dict[str, str]) -> None:
    manage(env, "grant", "vera", "viewer", "platform-team", "--create")
    manage(env, "grant", "opal", "operator", "platform-team", "--create")
    manage(env, "grant", "arthur", "author", "platform-team", "--create")

    # A new playbook: the viewer may not save it, the author may save it but not run it.
    out = drillhall(env, "run", str(PLAYBOOK), "--as", "vera")
    assert out.returncode == EXIT_NOT_ALLOWED, out.stderr
    assert "refused: wait-only is a new playbook: to edit playbooks vera needs the author " in (
        out.stderr
    )
    out = drillhall(env, "run", str(PLAYBOOK), "--as", "arthur")
    assert out.returncode == EXIT_NOT_ALLOWED, out.stderr
    assert "would be saved in team platform-team, where arthur may not run it" in out.stderr
    assert saved(env) == (0, 0, 0)

    # The author saves it in the team (as in the editor); then the viewer may see, not run.
    manage(
        env, "shell", "-c",
        "from pathlib import Path; from django.contrib.auth.models import Group, User; "
        "from drills.web.models import Playbook; "
        "p = Playbook.objects.create(name='wait-only', team=Group.objects.get(name="
        "'platform-team'), owner=User.objects.get(username='arthur')); "
        f"p.save_version(Path({str(PLAYBOOK)!r}).read_text(), message='by arthur')",
    )  # fmt: skip
    assert saved(env) == (1, 1, 0)
    out = drillhall(env, "run", str(PLAYBOOK), "--as", "vera")
    assert out.returncode == EXIT_NOT_ALLOWED, out.stderr
    assert (
        "refused: To run, abort or resume drills of team platform-team vera needs the "
        "operator role in platform-team (vera is viewer there)" in out.stderr
    )
    assert "workers:" not in out.stdout  # refused before anything was started
    assert saved(env) == (1, 1, 0)

    # The operator may run the stored text, but not save a changed one.
    changed = Path(env["DRILLHALL_STATE_DIR"]).parent / "wait-only.yaml"
    changed.write_text(PLAYBOOK.read_text().replace("wait: 1s", "wait: 2s"))
    out = drillhall(env, "run", str(changed), "--as", "opal")
    assert out.returncode == EXIT_NOT_ALLOWED, out.stderr
    assert "this file differs from the stored v1 of wait-only, and saving it needs the author" in (
        out.stderr
    )
    assert saved(env) == (1, 1, 0)

    env_opal = dict(env, DRILLHALL_USER="opal")
    out = drillhall(env_opal, "run", str(PLAYBOOK), "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verdict: passed" in out.stdout
    assert saved(env) == (1, 1, 1)
    with sqlite3.connect(env["DRILLHALL_SQLITE_PATH"]) as db:
        starter = db.execute(
            "SELECT u.username, r.source FROM drills_drillrun r "
            "JOIN auth_user u ON u.id = r.started_by_id"
        ).fetchall()
    assert starter == [("opal", "cli")]
