"""How long validating a playbook takes, next to the floor any YAML-based validator pays.

    .venv/bin/python bench/validate_playbook.py

Prints, for a block-style and a flow-style playbook near the 256 KiB cap: drillhall's full
validation (safe loading with positions, typed model, cross checks), PyYAML's C safe_load of
the same text (the peer: what a validator without positions or types pays at least), and
json.loads of the same data (a lower bound for parsing alone). Best of 7 runs, milliseconds.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drills.playbook.loader import MAX_BYTES  # noqa: E402
from drills.playbook.parser import parse_playbook  # noqa: E402

DEMO = (ROOT / "examples" / "partition-demo.yaml").read_text()
BLOCK_STEP = (
    "  # Round {i}: cut the cache off, then slow the database while the cache warms up.\n"
    "  - name: round {i}, cut the cache off from the web tier\n"
    "    fault: network.partition\n    target: cache\n    from: [web]\n    duration: 10s\n"
    "  - name: round {i}, slow database\n    fault: network.latency\n    target: web\n"
    "    to: [db]\n    latency: 150ms\n    jitter: 20ms\n    duration: 5s\n"
    "  - wait: 500ms\n"
)
FLOW_STEP = "  - {{fault: network.partition, target: cache, from: [web], duration: 1s}}  # {i}\n"


def playbook(step: str, limit: int = MAX_BYTES - 1024) -> str:
    head, tail = DEMO.split("slas:")
    head = head.replace("  db: {host: db1}\n", "  db: {host: db1}\n  cache: {host: db1}\n")
    tail = tail.replace(
        "objectives: {rto: 30s}", "objectives: {rto: 30s}\nlimits: {max_duration: 24h}"
    )
    steps: list[str] = []
    size = len(head) + len(tail) + 5
    while size + len(step) + 16 < limit:
        steps.append(step.format(i=len(steps)))
        size += len(steps[-1])
    return head + "".join(steps) + "slas:" + tail


def best(fn: Callable[[], object], runs: int = 7) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - started)
    return min(timings) * 1000


def main() -> None:
    print(f"{'playbook':<22}{'KiB':>6}{'drillhall':>12}{'yaml C safe_load':>19}{'json.loads':>12}")
    for name, step in (("block style", BLOCK_STEP), ("flow style (dense)", FLOW_STEP)):
        text = playbook(step)
        data = json.dumps(yaml.load(text, Loader=yaml.CSafeLoader))
        ours = best(lambda text=text: parse_playbook(text, "bench.yaml"))
        peer = best(lambda text=text: yaml.load(text, Loader=yaml.CSafeLoader))
        floor = best(lambda data=data: json.loads(data))
        print(f"{name:<22}{len(text) / 1024:>6.0f}{ours:>10.1f}ms{peer:>17.1f}ms{floor:>10.1f}ms")


if __name__ == "__main__":
    main()
