"""`drillhall run` against Chaos Toolkit: the same 3 s partition drill, wall time of each whole
command, nothing running beforehand (issue 14's goal: Drillhall at most 1.5 times CTK's).

    sudo .venv/bin/python bench/cli_vs_ctk.py [--runs 5] [--json out.json]

The lab is brought up once (both tools need db1 and web). Chaos Toolkit is installed by this
bench into a venv of its own (var/bench/ctk-venv, from PyPI) and runs an experiment that checks
the shop answers (steady state), cuts db1 off from web with the same nftables rules Drillhall's
partition writes (a process action: `ip netns exec dh-db1 nft -f FILE`), waits 3 s, and removes
the table (rollback), then checks the shop again. Drillhall runs
bench/playbooks/partition-3s.yaml, whose probe and `before` SLA are that steady state, with no
worker running: `drillhall run` starts the agents of db1 and web and drives the run itself,
as a pipeline's first run does, and stops the agents after. Runs alternate between the tools; min /
median / max of each, and the ratio of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_stack import ROOT, bench_database, call  # noqa: E402

PLAYBOOK = ROOT / "bench" / "playbooks" / "partition-3s.yaml"
CTK_VENV = ROOT / "var" / "bench" / "ctk-venv"
CTK_VERSION = "chaostoolkit==1.19.0"
SHOP = "http://10.77.0.2:8080/checkout"
WEB = "10.77.0.2"
RULES = f"""table inet ctk_partition {{
  chain input {{ type filter hook input priority -10; policy accept; ip saddr {WEB} drop; }}
  chain output {{ type filter hook output priority -10; policy accept; ip daddr {WEB} drop; }}
}}
"""


def ensure_ctk() -> Path:
    chaos = CTK_VENV / "bin" / "chaos"
    if not chaos.exists():
        subprocess.run([sys.executable, "-m", "venv", str(CTK_VENV)], check=True)
        subprocess.run([str(CTK_VENV / "bin" / "pip"), "install", "-q", CTK_VERSION],
                       check=True)  # fmt: skip
    return chaos


def experiment(rules: Path) -> dict[str, object]:
    probe = {
        "type": "probe", "name": "shop-answers", "tolerance": 200,
        "provider": {"type": "http", "url": SHOP, "timeout": 1},
    }  # fmt: skip
    netns = ["netns", "exec", "dh-db1", "nft"]
    return {
        "version": "1.0.0",
        "title": "Cut db1 off from web for 3 s",
        "description": "The same partition as bench/playbooks/partition-3s.yaml.",
        "steady-state-hypothesis": {"title": "the shop answers", "probes": [probe]},
        "method": [
            {"type": "action", "name": "partition",
             "provider": {"type": "process", "path": "ip",
                          "arguments": [*netns, "-f", str(rules)]},
             "pauses": {"after": 3}},
        ],
        "rollbacks": [
            {"type": "action", "name": "heal",
             "provider": {"type": "process", "path": "ip",
                          "arguments": [*netns, "delete", "table", "inet", "ctk_partition"]}},
        ],
    }  # fmt: skip


def timed(argv: list[str], env: dict[str, str], cwd: Path, check: bool = True) -> float:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    took = time.monotonic() - started
    if check and proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", help="write the figures here too (bench/run_all.py)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14",
                        help="a Redis database of the bench's own")  # fmt: skip
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: the lab is network namespaces")
    chaos = ensure_ctk()
    figures: dict[str, list[float]] = {"drillhall run": [], "chaos run": []}
    with bench_database(args.redis) as (tmp, env):
        call(env, "-m", "drills.cli.main", "lab", "up")
        rules = tmp / "partition.nft"
        rules.write_text(RULES)
        exp = tmp / "experiment.json"
        exp.write_text(json.dumps(experiment(rules), indent=2))
        ctk_env = {k: v for k, v in os.environ.items() if not k.startswith("DRILLHALL")}
        try:
            for _ in range(args.runs):
                figures["chaos run"].append(
                    # It exits 1 when the steady state deviated: its journal says it ran.
                    timed(
                        [str(chaos), "--no-version-check", "--no-log-file", "run", str(exp)],
                        ctk_env,
                        tmp,
                        check=False,
                    )
                )
                # chaos exits 0 even when it stopped before the method: read its journal.
                # (The shop may still be reconnecting to db1 at the check after the rollback:
                # "deviated" is the experiment's verdict, not a bench failure.)
                status = json.loads((tmp / "journal.json").read_text()).get("status")
                if status != "completed":
                    raise SystemExit(f"the Chaos Toolkit experiment did not complete: {status}")
                figures["drillhall run"].append(
                    timed(
                        [sys.executable, "-m", "drills.cli.main", "run", str(PLAYBOOK), "--quiet"],
                        env,
                        ROOT,
                    )
                )
        finally:
            subprocess.run([sys.executable, "-m", "drills.cli.main", "lab", "down"], cwd=ROOT,
                           env=env, capture_output=True, timeout=120)  # fmt: skip
    summary = {
        name: {"min": min(v), "median": statistics.median(v), "max": max(v)}
        for name, v in figures.items()
    }
    ratio = summary["drillhall run"]["median"] / summary["chaos run"]["median"]
    print(f"{args.runs} runs each of a 3 s partition, nothing running before, wall seconds:")
    for name, s in summary.items():
        print(f"  {name:14} {s['min']:6.2f} / {s['median']:6.2f} / {s['max']:6.2f}")
    print(f"  ratio of medians: {ratio:.2f} (goal <= 1.5)")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": args.runs, "seconds": summary,
                                               "ratio": ratio}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
