from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from injector.commands import CommandError, in_netns, run_command
from tests.conftest import have_root, require

ROOT = Path(__file__).resolve().parents[2]


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


def test_inside_the_namespace_it_names_a_command_runs_as_it_is() -> None:
    require(have_root(), "needs root (network namespaces)")
    name = f"dh-cmd-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        script = (
            "import json, sys; from injector.commands import in_netns; "
            "print(json.dumps(in_netns(sys.argv[1], ['nft', 'list', 'tables'])))"
        )
        inside = subprocess.run(
            ["nsenter", f"--net=/run/netns/{name}", sys.executable, "-c", script, name],
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
        assert json.loads(inside) == ["nft", "list", "tables"]
        # Here, outside it, the same namespace is entered first.
        assert in_netns(name, ["nft", "list", "tables"])[:4] == ["ip", "netns", "exec", name]
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
