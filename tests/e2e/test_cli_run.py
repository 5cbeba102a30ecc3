"""`drillhall run` on the real lab: it starts its own workers; the cut is checked from outside."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from tests.conftest import have_root, redis_up, require
from tests.conftest import test_redis_url as redis_url_of_tests
from tests.e2e.stack import ROOT, cli, nft_tables, ns_ping, stack_env

EXAMPLE = ROOT / "examples" / "partition-demo.yaml"


class Pinger:
    """Pings web->db1 and db1->web in turn from inside the namespaces, bounded in time (and so
    in count: a round takes at least 0.1 s). A bound in rounds ran out before the fault was
    lifted when the workers were slow to start."""

    def __init__(self, max_seconds: float = 240.0) -> None:
        self.results: list[tuple[float, str, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(max_seconds,), daemon=True)

    def _loop(self, max_seconds: float) -> None:
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            if self._stop.is_set():
                return
            for direction, netns, address in (
                ("web->db1", "dh-web", "10.77.0.3"),
                ("db1->web", "dh-db1", "10.77.0.2"),
            ):
                t = time.time()
                ok = ns_ping(netns, address)
                self.results.append((t, direction, ok))
            time.sleep(0.1)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def between(self, start: float, end: float, direction: str) -> list[bool]:
        return [ok for t, d, ok in self.results if start <= t <= end and d == direction]


def test_run_partition_demo_passes_and_cuts_traffic_both_ways(tmp_path: Path) -> None:
    require(have_root(), "needs root (the lab)")
    # The tests' Redis server, another database: no workers listen there, the CLI starts its own.
    redis_url = redis_url_of_tests().rsplit("/", 1)[0] + "/10"
    require(redis_up(redis_url), "needs Redis")
    env = stack_env(tmp_path, redis_url)
    up = cli(env, "lab", "up")
    assert up.returncode == 0, up.stderr
    pinger = Pinger()
    pinger.start()
    try:
        out = cli(
            env,
            "run",
            str(EXAMPLE),
            "--json",
            str(tmp_path / "run.json"),
            "--report",
            str(tmp_path / "run.html"),
            timeout=180,
        )
    finally:
        # The run can end less than 5 s after the fault is lifted: keep pinging that long.
        time.sleep(5.5)
        pinger.stop()
        tables = nft_tables("dh-db1") + nft_tables("dh-web")
        cli(env, "lab", "down")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "workers: started" in out.stdout
    assert "verdict: passed" in out.stdout
    assert tables == [], "a drillhall nft table outlived the run"

    doc = json.loads((tmp_path / "run.json").read_text())
    events = doc["events"]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    applied = next(e["t"] for e in events if e["type"] == "fault_applied")
    reverted = next(e["t"] for e in events if e["type"] == "fault_reverted")
    assert 9.0 <= reverted - applied <= 13.0
    for direction in ("web->db1", "db1->web"):
        before = pinger.between(applied - 4.0, applied - 0.5, direction)
        during = pinger.between(applied + 0.2, reverted - 1.2, direction)
        after = pinger.between(reverted + 0.5, reverted + 5.0, direction)
        assert before and all(before), f"{direction} failed before the fault: {before}"
        assert len(during) >= 3 and not any(during), f"{direction} got through: {during}"
        assert after and all(after), f"{direction} did not resume: {after}"
    assert doc["result"]["state"] == "passed"
    assert set(doc["result"]["verdicts"].values()) == {"passed"}
    html = (tmp_path / "run.html").read_text()
    assert "partition-demo" in html and "passed" in html


def test_run_with_a_misspelt_key_exits_2_naming_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("    duration: 10s", "    duraton: 10s"))
    out = cli(stack_env(tmp_path, "redis://127.0.0.1:6379/10"), "run", str(bad))
    assert out.returncode == 2
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "duraton" in text)
    assert f"{bad}:{line}:5:" in out.stderr
    assert "duraton" in out.stderr and "duration" in out.stderr
