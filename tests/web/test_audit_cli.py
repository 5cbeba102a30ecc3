"""`drillhall run` (the real command, in a process of its own) audits the playbook it saves
and the run it starts as the operating-system user, from "cli".

The playbook names hosts no inventory has, so the plan is refused at once: no lab or worker
is needed, and the run still exists (ended as error), so its start is still an entry.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests" / "fixtures" / "playbooks" / "audit" / "unknown-host.yaml"
COLUMNS = "action, actor_name, actor_id, source, object_type, object_id, summary, content_hash"


def drillhall(db: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DRILLHALL_SQLITE_PATH": str(db),
        "DRILLHALL_STATE_DIR": str(tmp / "state"),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "drills.cli.main", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def manage(db: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DRILLHALL_SQLITE_PATH": str(db),
        "DRILLHALL_STATE_DIR": str(tmp / "state"),
    }
    for command in (["migrate", "-v0"], list(args)):
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if done.returncode != 0:
            break
    return done


def audit(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT {COLUMNS} FROM drills_auditentry ORDER BY id").fetchall()


def test_drillhall_run_records_the_save_and_the_start_once_each(tmp_path: Path) -> None:
    db = tmp_path / "drillhall.sqlite3"
    # drillhall run acts as a named user; an admin may save and run anything.
    granted = manage(db, tmp_path, "grant", "ci", "admin", "--create")
    assert granted.returncode == 0, granted.stdout + granted.stderr
    out = drillhall(db, tmp_path, "run", str(PLAYBOOK), "--quiet", "--as", "ci")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "the plan was refused" in out.stderr
    text_hash = hashlib.sha256(PLAYBOOK.read_bytes()).hexdigest()
    saved, started = audit(db)
    assert saved[:2] == ("playbook_save", "ci") and isinstance(saved[2], int)
    assert saved[3:] == (
        "cli", "playbook", "unknown-host",
        f"created playbook unknown-host as v1: “drillhall run {PLAYBOOK}”", text_hash,
    )  # fmt: skip
    assert started[:2] == ("run_start", "ci") and started[3:6] == ("cli", "run", "1")
    assert started[6].startswith("started run 1 of unknown-host v1; it ended at once: ")
    assert started[7] == text_hash

    # The same file again: the text is saved already (no entry), the new run is one.
    out = drillhall(db, tmp_path, "run", str(PLAYBOOK), "--quiet", "--as", "ci")
    assert out.returncode == 3
    entries = audit(db)
    assert len(entries) == 3
    assert entries[2][:2] == ("run_start", "ci") and entries[2][3:6] == ("cli", "run", "2")


def test_import_ctk_writes_a_file_and_no_entry(tmp_path: Path) -> None:
    # It converts into a file and never touches the database: an author saves the result,
    # and that save is the entry.
    db = tmp_path / "drillhall.sqlite3"
    drillhall(db, tmp_path, "run", str(PLAYBOOK), "--quiet")  # a database with a log
    before = audit(db)
    experiment = next((ROOT / "tests" / "fixtures" / "ctk").glob("*.json"))
    out = drillhall(db, tmp_path, "import-ctk", str(experiment), "-o", str(tmp_path / "p.yaml"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "p.yaml").exists()
    assert audit(db) == before
