"""A fault other than a partition through the whole stack: planner, agent, proxy, verdicts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.stack import ROOT, Stack, checkout_status, cli, nft_tables, proxy_processes

PLAYBOOK = ROOT / "tests" / "fixtures" / "playbooks" / "e2e" / "http-error-drill.yaml"


def test_http_error_drill_fails_checkout_and_leaves_nothing_behind(
    stack: Stack, tmp_path: Path
) -> None:
    out = cli(stack.env, "run", str(PLAYBOOK), "--json", str(tmp_path / "run.json"), timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads((tmp_path / "run.json").read_text())
    applied = next(e for e in doc["events"] if e["type"] == "fault_applied")
    assert applied["data"]["kind"] == "http.error"
    assert applied["data"]["mechanism"] == "proxy"
    during = [
        e["data"]["status"]
        for e in doc["events"]
        if e["type"] == "sample" and applied["t"] + 0.5 < e["t"] < applied["t"] + 5.5
    ]
    assert during and set(during) == {503}
    assert doc["result"]["state"] == "passed"
    # Seen from outside afterwards: the real service answers, no table or proxy is left.
    assert checkout_status() == 200
    assert nft_tables("dh-web") == []
    assert proxy_processes() == []
