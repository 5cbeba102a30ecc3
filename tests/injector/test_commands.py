from __future__ import annotations

import sys

import pytest

from injector.commands import CommandError, in_netns, run_command


def test_run_command_returns_stdout_and_feeds_stdin() -> None:
    script = "import sys; print(sys.stdin.read().upper())"
    assert run_command([sys.executable, "-c", script], input="drill") == "DRILL\n"


def test_run_command_failure_carries_argv_code_and_stderr() -> None:
    argv = [sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"]
    with pytest.raises(CommandError) as caught:
        run_command(argv)
    assert caught.value.argv == argv
    assert caught.value.returncode == 3
    assert caught.value.stderr == "boom"
    assert "boom" in str(caught.value)


def test_run_command_timeout_is_a_command_error() -> None:
    with pytest.raises(CommandError) as caught:
        run_command([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2)
    assert caught.value.returncode == -1


def test_missing_program_is_a_command_error() -> None:
    with pytest.raises(CommandError) as caught:
        run_command(["drillhall-no-such-program"])
    assert caught.value.returncode == 127


def test_in_netns_wraps_only_when_a_namespace_is_given() -> None:
    assert in_netns("lab-a", ["nft", "list", "tables"]) == [
        "ip", "netns", "exec", "lab-a", "nft", "list", "tables",
    ]  # fmt: skip
    assert in_netns(None, ["nft", "list", "tables"]) == ["nft", "list", "tables"]
