"""A fault's table found and deleted in the agent's own namespace over netlink, not by nft.

nft reads every table of a namespace before any command, so with a hundred faults' tables in
one namespace each nft deletion cost 50 ms (docs/performance.md). The agent of a lab host runs
inside its namespace, and a host's agent in the root namespace, so there ``nft.delete`` and
``nft.exists`` (with which a revert is confirmed) speak netlink themselves. These tests run
them from inside a namespace of their own, as the agent does, and look from outside too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from injector import nft
from tests.injector.netlab import NetPair
from tests.injector.test_nft_rulesets import CASES

ROOT = Path(__file__).resolve().parents[2]


def delete_from_inside(
    namespace: str, table: str, times: int = 1
) -> subprocess.CompletedProcess[str]:
    """``nft.delete`` run by a process inside ``namespace``, with nft itself out of reach:
    what reaches the kernel can only be netlink. It prints what ``nft.exists`` says before and
    after."""
    code = (
        "import sys\n"
        "from injector import nft\n"
        "def no_nft(*args, **kwargs):\n"
        "    raise SystemExit('nft was run')\n"
        "nft.run_command = no_nft\n"
        "print(nft.exists(sys.argv[1], sys.argv[2]))\n"
        f"for _ in range({times}):\n"
        "    nft.delete(sys.argv[1], sys.argv[2])\n"
        "print(nft.exists(sys.argv[1], sys.argv[2]))\n"
    )
    return subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", code, namespace, table],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_a_table_is_deleted_from_inside_its_namespace_without_nft(
    netpair: NetPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path))
    table, ruleset = CASES["partition-both-one-peer"]()
    other, other_ruleset = CASES["loss-ports"]()
    nft.apply(netpair.a, table, ruleset)
    nft.apply(netpair.a, other, other_ruleset)
    assert nft.exists(netpair.a, table)

    out = delete_from_inside(netpair.a, table)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.split() == ["True", "False"]  # as seen from inside
    assert not nft.exists(netpair.a, table)  # and from outside, by nft
    assert nft.exists(netpair.a, other)  # only the fault's own table went


def test_a_table_gone_already_is_deleted_without_complaint(
    netpair: NetPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path))
    table, ruleset = CASES["partition-both-one-peer"]()
    nft.apply(netpair.a, table, ruleset)
    out = delete_from_inside(netpair.a, table, times=2)  # a redelivered revert
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.split() == ["True", "False"]
    assert not nft.exists(netpair.a, table)
