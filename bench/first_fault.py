"""Start -> first fault: from a run's creation to the agent's confirmation that its first fault
is on, with the workers already running (issue 14's goal: at most 0.1 s, median of 20).

    sudo .venv/bin/python bench/first_fault.py [--runs 20]

Brings up the lab, an orchestrator worker and the lab's agents (on a Redis database and a
SQLite file of the bench's own), runs one drill to warm them, then ``drillhall run`` of
bench/playbooks/partition-now.yaml ``--runs`` times, one after another, as a user would. For
each run, from its JSON report: the run's ``created_at`` (the row the CLI creates) to the
``fault_applied`` event (written when the agent's reply says the nft rules are on), and the
parts in between from the run's own events: queued (creation to the orchestrator's claim),
preflight (claim to baseline: pings, kernel collectors) and baseline to applied (admission,
apply). Prints min / median / max of each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_stack import ROOT, Workers, bench_database, call  # noqa: E402

PLAYBOOK = ROOT / "bench" / "playbooks" / "partition-now.yaml"


def one_run(env: dict[str, str], out: Path) -> dict[str, float]:
    call(env, "-m", "drills.cli.main", "run", str(PLAYBOOK), "--quiet", "--json", str(out))
    doc = json.loads(out.read_text())
    created = datetime.fromisoformat(doc["run"]["created_at"]).timestamp()
    started = datetime.fromisoformat(doc["run"]["started_at"]).timestamp()
    events = doc["events"]
    baseline = next(e["t"] for e in events if e["type"] == "state"
                    and e["data"]["state"] == "baseline")  # fmt: skip
    applied = next(e["t"] for e in events if e["type"] == "fault_applied")
    return {
        "start -> first fault": applied - created,
        "queued": started - created,
        "preflight": baseline - started,
        "baseline -> applied": applied - baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", help="write the figures here too (bench/run_all.py)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11",
                        help="a Redis database of the bench's own")  # fmt: skip
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: the lab is network namespaces")
    with bench_database(args.redis) as (tmp, env):
        stack = Workers(env, tmp)
        stack.up()
        try:
            one_run(env, tmp / "warm-up.json")  # compiles the collectors, as a first run does
            figures: dict[str, list[float]] = {}
            for i in range(args.runs):
                for name, value in one_run(env, tmp / f"run-{i}.json").items():
                    figures.setdefault(name, []).append(value)
        finally:
            stack.down()
    print(f"{args.runs} runs of {PLAYBOOK.name}, workers warm (seconds):")
    print(f"| {'part':<22} | {'min':>7} | {'median':>7} | {'max':>7} |")
    print(f"| {'-' * 22} | {'-' * 7} | {'-' * 7} | {'-' * 7} |")
    for name, values in figures.items():
        print(f"| {name:<22} | {min(values):7.3f} | {statistics.median(values):7.3f} "
              f"| {max(values):7.3f} |")  # fmt: skip
    if args.json:
        summary = {
            name: {"min": min(v), "median": statistics.median(v), "max": max(v)}
            for name, v in figures.items()
        }
        Path(args.json).write_text(json.dumps({"runs": args.runs, "seconds": summary}, indent=2))


if __name__ == "__main__":
    main()
