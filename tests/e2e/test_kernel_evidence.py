"""Kernel evidence through the whole stack: collectors on the agents, samples in the run.

A partition with traffic across it shows failed connects or retransmits on the client's
host (web) while it is on; a partition that cuts nothing in use is reported as "fault
applied, no effect seen" and the run does not pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import ROOT, Stack, cli

FIXTURES = ROOT / "tests" / "fixtures" / "playbooks" / "e2e"
SIGNS = ("kernel.tcp_connect_failures", "kernel.tcp_retransmits")


def run(stack: Stack, name: str, tmp_path: Path) -> tuple[dict[str, Any], str]:
    out = cli(stack.env, "run", str(FIXTURES / name), "--json", str(tmp_path / "run.json"))
    return json.loads((tmp_path / "run.json").read_text()), out.stdout + out.stderr


def kernel(events: list[dict[str, Any]], host: str, probe: str) -> list[dict[str, Any]]:
    return [
        e
        for e in events
        if e["type"] == "sample" and e["data"]["probe"] == probe and e["data"].get("host") == host
    ]


@pytest.mark.timeout(120)
def test_a_partition_shows_failed_connects_on_the_client_host(stack: Stack, tmp_path: Path) -> None:
    doc, output = run(stack, "evidence-partition.yaml", tmp_path)
    events = doc["events"]
    assert doc["result"]["state"] == "passed", output
    started = {
        e["data"]["host"]: e["data"]["collectors"] for e in events if e["type"] == "collectors"
    }
    # The playbook's collectors, plus the proof-of-effect ones on both ends of the partition.
    assert {c["name"] for c in started["web"]} == {"tcp_connect", "tcp_resets", "tcp_retransmits"}
    assert {c["name"] for c in started["db1"]} >= {"syscall_latency", "tcp_connect"}
    assert all(c["source"] == "ebpf" for c in started["web"] + started["db1"]), started

    applied = next(e for e in events if e["type"] == "fault_applied")
    reverted = next(e for e in events if e["type"] == "fault_reverted")
    during = sum(
        e["data"]["value"]
        for probe in SIGNS
        for e in kernel(events, "web", probe)
        if applied["t"] < e["data"]["at"] <= reverted["t"] + 1.0
    )
    before = sum(
        e["data"]["value"]
        for probe in SIGNS
        for e in kernel(events, "web", probe)
        if e["data"]["at"] <= applied["t"]
    )
    print(f"web: {during:g} failed connects + retransmits during, {before:g} before")
    assert before == 0
    assert during > 0
    # Samples arrive once per interval per metric, with zeros: a steady series, not gaps.
    assert len(kernel(events, "web", "kernel.tcp_connect_attempts")) >= 6
    assert not [e for e in events if e["type"] == "no_effect"]


@pytest.mark.timeout(120)
def test_a_partition_that_cuts_nothing_in_use_says_no_effect_seen(
    stack: Stack, tmp_path: Path
) -> None:
    doc, output = run(stack, "no-effect-partition.yaml", tmp_path)
    events = doc["events"]
    assert doc["result"]["state"] == "failed", output
    [warning] = [e["data"] for e in events if e["type"] == "no_effect"]
    assert warning["kind"] == "network.partition"
    assert set(warning["hosts"]) == {"db1", "web"}
    assert "fault applied, no effect seen" in warning["message"]
    assert "no effect seen" in doc["result"]["reason"]
