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
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PLAYBOOK = ROOT / "bench" / "playbooks" / "partition-now.yaml"
LAB_HOSTS = {"web": "dh-web", "db1": "dh-db1", "db2": "dh-db2"}
USER = "bench"


def environment(tmp: Path, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url,
        DRILLHALL_SQLITE_PATH=str(tmp / "drillhall.sqlite3"),
        DRILLHALL_STATE_DIR=str(tmp / "state"),
        DRILLHALL_USER=USER,
        DJANGO_SETTINGS_MODULE="drillhall.settings",
        PYTHONPATH=str(ROOT),
    )
    return env


def call(env: dict[str, str], *argv: str, timeout: float = 120) -> str:
    out = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({out.returncode}):\n{out.stderr}{out.stdout}")
    return out.stdout


class Workers:
    """The lab, an orchestrator worker and the lab's agents, running for the whole bench."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env, self.tmp = env, tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def up(self) -> None:
        os.environ.update(self.env)
        import django

        django.setup()
        from drills.cli import workers

        call(self.env, "-m", "drills.cli.main", "lab", "up")
        argvs = [workers.orchestrator_argv("orch-bench")]
        argvs += [workers.agent_argv(h, ns, self.env["REDIS_URL"]) for h, ns in LAB_HOSTS.items()]
        for i, argv in enumerate(argvs):
            log = (self.tmp / f"worker-{i}.log").open("ab")
            self.procs.append(subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            ))  # fmt: skip
        agents = {f"agent.{h}" for h in LAB_HOSTS}
        deadline = time.monotonic() + 60
        while not ({"orchestrator"} | agents) <= workers.active_queues(0.5, agents=agents):
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not come up; logs in " + str(self.tmp))
            time.sleep(0.5)

    def down(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        subprocess.run([sys.executable, "-m", "drills.cli.main", "lab", "down"], cwd=ROOT,
                       env=self.env, capture_output=True, timeout=120)  # fmt: skip


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
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11",
                        help="a Redis database of the bench's own")  # fmt: skip
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: the lab is network namespaces")
    with tempfile.TemporaryDirectory(prefix="drillhall-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = environment(tmp, args.redis)
        call(env, "manage.py", "migrate", "--verbosity", "0")
        call(env, "manage.py", "grant", USER, "admin", "--create")
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


if __name__ == "__main__":
    main()
