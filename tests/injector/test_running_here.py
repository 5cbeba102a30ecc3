"""injector.supervisor.running_here: whether an agent supervisor holds its lock on this
machine, read from /proc/locks without ever taking the lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from injector.supervisor import running_here

HOLD = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
sys.stdin.read()
"""


def test_a_held_supervisor_lock_is_seen_and_a_free_one_or_none_is_not(tmp_path: Path) -> None:
    assert not running_here(tmp_path)  # no lock file
    lock = tmp_path / "supervisor.lock"
    lock.touch()
    assert not running_here(tmp_path)  # a file nobody holds
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert running_here(tmp_path)
        other = tmp_path / "other"
        other.mkdir()
        (other / "supervisor.lock").touch()
        assert not running_here(other)  # another agent's directory
    finally:
        holder.communicate("", timeout=10)
    assert not running_here(tmp_path)  # released when its holder exits
