"""`drillhall enrol HOST`: the host's signing key, made once, never shown."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from injector.signing import agent_key_path, load_key

ROOT = Path(__file__).resolve().parents[2]


def enrol(credentials: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRILLHALL_CREDENTIALS_DIR": str(credentials)}
    return subprocess.run(
        [sys.executable, "-m", "drills.cli.main", "enrol", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_enrolling_makes_a_private_key_and_says_what_the_agent_needs(tmp_path: Path) -> None:
    out = enrol(tmp_path, "db7")
    assert out.returncode == 0, out.stderr
    key_file = agent_key_path(tmp_path, "db7")
    key = load_key(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key.hex() not in out.stdout  # where it is, never what it is
    assert f"The key is in {key_file} (made just now; not shown)." in out.stdout
    assert "DRILLHALL_AGENT_KEY_FILE=/etc/drillhall/hmac.key" in out.stdout
    assert "PROTECTED" not in out.stdout

    again = enrol(tmp_path, "db7", "--protected")
    assert again.returncode == 0 and "(already there; not shown)" in again.stdout
    assert load_key(key_file) == key
    assert "DRILLHALL_AGENT_PROTECTED=true" in again.stdout


def test_a_name_that_is_no_host_name_is_refused_with_a_sentence(tmp_path: Path) -> None:
    out = enrol(tmp_path, "../etc")
    assert out.returncode == 2
    assert out.stderr.startswith("drillhall enrol: ") and "Traceback" not in out.stderr
    assert list(tmp_path.iterdir()) == []
