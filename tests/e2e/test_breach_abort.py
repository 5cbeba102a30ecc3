"""An SLA breach with on_breach: abort ends the drill and takes the fault away at once.

The fault's end is seen from outside: a thread in web's namespace keeps connecting to Redis
on db1 and notes when connects succeed again.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

from ebpf.netns import enter_netns
from tests.e2e.stack import ROOT, Stack, cli, nft_tables

PLAYBOOK = ROOT / "tests" / "fixtures" / "playbooks" / "e2e" / "breach-abort.yaml"
WATCH_AFTER_S = 3.0  # beyond the 2 s the traffic has to come back in


class Reachability(threading.Thread):
    """TCP connects from ``netns`` to ``address`` every 50 ms: (time, connected) pairs."""

    def __init__(self, netns: str, address: tuple[str, int]) -> None:
        super().__init__(daemon=True)
        self.netns, self.address = netns, address
        self.seen: list[tuple[float, bool]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        enter_netns(self.netns)  # this thread only
        while not self.stop.is_set():
            t = time.time()
            try:
                socket.create_connection(self.address, timeout=0.2).close()
                ok = True
            except OSError:
                ok = False
            self.seen.append((t, ok))
            self.stop.wait(0.05)


@pytest.mark.timeout(120)
def test_a_breach_aborts_the_run_and_the_fault_is_gone_within_2s(
    stack: Stack, tmp_path: Path
) -> None:
    watcher = Reachability("dh-web", ("10.77.0.3", 6379))
    watcher.start()
    try:
        out = cli(stack.env, "run", str(PLAYBOOK), "--json", str(tmp_path / "run.json"))
        # The command ends as soon as the revert is confirmed, which can be while a connect
        # sent during the cut still waits out its timeout: keep watching a while.
        watcher.stop.wait(WATCH_AFTER_S)
    finally:
        watcher.stop.set()
        watcher.join(timeout=5)
    doc = json.loads((tmp_path / "run.json").read_text())
    events = doc["events"]
    assert doc["result"]["state"] == "aborted", out.stdout + out.stderr
    assert out.returncode != 0

    types = [e["type"] for e in events]
    breach = next(e for e in events if e["type"] == "verdict" and e["data"]["state"] == "breached")
    assert breach["data"]["sla"] == "checkout never fails"
    abort = next(e for e in events if e["type"] == "abort")
    assert "checkout never fails" in abort["data"]["reason"]
    applied = [e for e in events if e["type"] == "fault_applied"]
    reverted = [e for e in events if e["type"] == "fault_reverted"]
    assert {e["data"]["fault_id"] for e in reverted} == {e["data"]["fault_id"] for e in applied}
    # In that order: breach, abort, reverting, every revert, aborted.
    assert types.index("abort") > events.index(breach)
    states = [e["data"]["state"] for e in events if e["type"] == "state"]
    assert states[-2:] == ["reverting", "aborted"]
    assert all(events.index(r) > types.index("abort") for r in reverted)
    # Long before the step's 60 s were up.
    assert breach["t"] - applied[0]["t"] < 10

    # From outside: connects failed during the fault, and work again within 2 s of the breach.
    during = [ok for t, ok in watcher.seen if applied[0]["t"] + 0.5 < t < breach["t"]]
    assert during and not any(during)
    back = next(t for t, ok in watcher.seen if ok and t > breach["t"])
    print(f"breach->abort {abort['t'] - breach['t']:.3f}s, traffic back {back - breach['t']:.3f}s")
    assert back - breach["t"] <= 2.0
    assert nft_tables("dh-db1") == []
