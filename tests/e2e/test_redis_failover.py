"""The Redis failover drill in the lab, checked against Sentinel's own log and an own count.

RTO must agree (within 1 s) with the ``+switch-master`` line the Sentinels log, taken relative
to the fault's start; RPO must equal the number of acknowledged canary writes that this test
itself cannot find on the master the Sentinels name after the drill.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime
from pathlib import Path

import pytest
import redis

from tests.e2e.sentinels import fail_back_to_db1, master_address
from tests.e2e.stack import ROOT, Stack, cli, nft_tables

PLAYBOOK = ROOT / "tests" / "fixtures" / "playbooks" / "e2e" / "redis-split-brain.yaml"
# 1234:X 23 Nov 2026 17:05:50.123 # +switch-master shop 10.77.0.3 6379 10.77.0.4 6379
SWITCH = re.compile(r"^\d+:X (\d+ \w+ \d+ [\d:.]+) # \+switch-master shop (\S+) \d+ (\S+) \d+")


def switch_times(logs: dict[Path, int]) -> list[tuple[float, str, str]]:
    """Every +switch-master logged since the given offsets: (time, old ip, new ip)."""
    found = []
    for path, offset in logs.items():
        with path.open("rb") as fh:
            fh.seek(offset)
            for line in fh.read().decode(errors="replace").splitlines():
                match = SWITCH.match(line)
                if match:
                    # Sentinel logs local time with milliseconds.
                    when = datetime.strptime(match.group(1), "%d %b %Y %H:%M:%S.%f")
                    found.append((when.timestamp(), match.group(2), match.group(3)))
    return sorted(found)


@pytest.mark.changes_lab
@pytest.mark.timeout(240)
def test_failover_rto_matches_sentinels_log_and_rpo_matches_an_own_count(
    stack: Stack, tmp_path: Path
) -> None:
    # The lab starts with db1 as master; an earlier drill that cut db1 off long enough (the
    # hostile playbooks' partitions, a game day's failover) leaves db2 master instead.
    fail_back_to_db1()
    assert master_address() == ("10.77.0.3", 6379), "the lab must start with db1 as master"
    prefix = secrets.token_hex(4)
    playbook = tmp_path / "redis-split-brain.yaml"
    playbook.write_text(PLAYBOOK.read_text().replace("KEY_PREFIX", prefix))
    logs = {p: p.stat().st_size for p in (stack.state_dir / "lab" / "logs").glob("*-sentinel.log")}
    assert len(logs) == 3, sorted(str(p) for p in logs)

    out = cli(stack.env, "run", str(playbook), "--json", str(tmp_path / "run.json"), timeout=200)
    doc = json.loads((tmp_path / "run.json").read_text())
    events = doc["events"]
    result = doc["result"]
    assert result["state"] == "failed", out.stdout + out.stderr  # data was lost: RPO 0 missed
    assert out.returncode != 0

    # RTO against Sentinel: the first +switch-master (the leader's), from the fault's start.
    applied = next(e for e in events if e["type"] == "fault_applied")
    switches = switch_times(logs)
    assert switches, "no Sentinel logged +switch-master"
    switched_at, old, new = switches[0]
    assert (old, new) == ("10.77.0.3", "10.77.0.4")
    sentinel_rto = switched_at - applied["t"]
    assert result["rto"] is not None
    print(f"RTO drill {result['rto']:.2f}s, Sentinel +switch-master {sentinel_rto:.2f}s")
    assert abs(result["rto"] - sentinel_rto) <= 1.0

    # RPO against an own count: every write the canary was acknowledged, looked up on the
    # master the Sentinels name now, by this test's own client.
    acked = [
        e["data"]["seq"]
        for e in events
        if e["type"] == "sample" and e["data"]["probe"] == "orders" and "seq" in e["data"]
    ]
    host, port = master_address()
    assert (host, port) == ("10.77.0.4", 6379)
    store = redis.Redis(host, port, socket_timeout=2, decode_responses=True)
    keys = [f"e2e:split-brain:{prefix}:{seq}" for seq in acked]
    present = sum(
        1 for first in range(0, len(keys), 500) for v in store.mget(keys[first : first + 500]) if v
    )
    missing = len(keys) - present
    rpo = next(e["data"] for e in events if e["type"] == "rpo")
    print(f"RPO drill {rpo['lost']} of {rpo['acknowledged']}, own count {missing} of {len(keys)}")
    assert rpo["error"] is None
    assert rpo["acknowledged"] == len(acked)
    assert missing > 0, "the old primary acknowledged writes while cut off: some must be lost"
    assert rpo["lost"] == missing
    assert "RPO" in result["reason"]
    assert nft_tables("dh-db1") == []
