from __future__ import annotations

import os
import sys
from pathlib import Path

from injector import children


def sleeper() -> list[str]:
    return [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_child_outlives_nothing_once_stopped(tmp_path: Path) -> None:
    record = children.spawn(tmp_path, "proxy", sleeper())
    assert children.alive(tmp_path, "proxy")
    assert children.stop(tmp_path, "proxy")
    assert not children.alive(tmp_path, "proxy")
    assert not (tmp_path / "proxy.pid").exists()
    assert children.start_time(record.pid) is None


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    argv = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
    ]
    children.spawn(tmp_path, "stubborn", argv)
    assert children.stop(tmp_path, "stubborn", grace=0.5)
    assert not children.alive(tmp_path, "stubborn")


def test_a_recycled_pid_is_not_taken_for_the_child(tmp_path: Path) -> None:
    # A pid file whose start time does not match belongs to another process: leave it alone.
    (tmp_path / "old.pid").write_text(f"{os.getpid()} 1\n")
    assert not children.alive(tmp_path, "old")
    assert children.stop(tmp_path, "old")
    os.kill(os.getpid(), 0)  # still here


def test_stop_of_an_unknown_child_is_a_no_op(tmp_path: Path) -> None:
    assert children.stop(tmp_path, "never-started")


def test_children_survive_the_death_of_their_parent_session(tmp_path: Path) -> None:
    record = children.spawn(tmp_path, "detached", sleeper())
    assert os.getsid(record.pid) == record.pid  # own session: a worker's SIGKILL does not reach it
    children.stop(tmp_path, "detached")
