"""Agent memory: resident memory of each lab host's agent (its supervisor and its Celery worker)
while a drill with all six kernel collectors runs (issue 14's goal: at most 120 MiB per host).

    sudo .venv/bin/python bench/agent_memory.py [--json out.json]

Brings up the lab, an orchestrator worker and the lab's agents (bench/lab_stack.py), runs
bench/playbooks/all-collectors.yaml with ``drillhall run`` twice (the first compiles the
programs, as an agent's first drill does; the second is any later drill), and reads VmRSS from
/proc every 0.2 s while each runs. Fault helpers the agent starts (proxies, FUSE layers) are
processes of their own, with their own figures, and are not counted. Prints the largest total
per host, and its parts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_stack import ROOT, Workers, bench_database, call  # noqa: E402

PLAYBOOK = ROOT / "bench" / "playbooks" / "all-collectors.yaml"


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def agent_parts(supervisor: int) -> dict[str, int]:
    """The supervisor and its Celery worker (not fault helpers), by pid."""
    parts = {"supervisor": supervisor}
    for child in children(supervisor):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"celery" in argv:
            parts["worker"] = child
    return parts


class Sampler:
    def __init__(self, supervisors: dict[str, int]) -> None:
        self.supervisors = supervisors
        self.peak: dict[str, dict[str, int]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for host, supervisor in self.supervisors.items():
                figures = {name: rss_kib(pid) for name, pid in agent_parts(supervisor).items()}
                total = sum(figures.values())
                if total > sum(self.peak.get(host, {}).values()):
                    self.peak[host] = figures


def measured_run(env: dict[str, str], supervisors: dict[str, int]) -> dict[str, dict[str, int]]:
    sampler = Sampler(supervisors)
    thread = threading.Thread(target=sampler.run, daemon=True)
    thread.start()
    try:
        call(env, "-m", "drills.cli.main", "run", str(PLAYBOOK), "--quiet")
    finally:
        sampler.stop.set()
        thread.join()
    return sampler.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13",
                        help="a Redis database of the bench's own")  # fmt: skip
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: the lab is network namespaces, the collectors eBPF")
    with bench_database(args.redis) as (tmp, env):
        stack = Workers(env, tmp)
        stack.up()
        try:
            supervisors = stack.agent_pids
            first = measured_run(env, supervisors)
            later = measured_run(env, supervisors)
        finally:
            stack.down()
    result = {"first drill": first, "later drill": later}
    print("Agent resident memory, MiB, largest total while the drill ran (supervisor + worker):")
    print("| host | drill | supervisor | worker | total |")
    print("| --- | --- | --- | --- | --- |")
    for label, peaks in result.items():
        for host, figures in sorted(peaks.items()):
            mib = {k: v / 1024 for k, v in figures.items()}
            print(f"| {host} | {label} | {mib.get('supervisor', 0):.0f} | "
                  f"{mib.get('worker', 0):.0f} | {sum(mib.values()):.0f} |")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
