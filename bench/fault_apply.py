"""Apply and revert latency per fault: Drillhall's injector against nftables alone.

    sudo .venv/bin/python bench/fault_apply.py [--rounds 50]

Builds two network namespaces of its own (``bh-fa-<pid>-a`` and ``-b``, joined by a veth pair,
198.18.0.1 and 198.18.0.2) and puts each fault on namespace a, ``--rounds`` times:

- Drillhall: the injector's own fault class (``injector.faults.partition.PartitionFault``,
  ``injector.faults.loss.LossFault``), built from a spec as the agent builds it, then
  ``apply()`` and ``revert()``, each timed from the call to its return (no broker, no Celery);
- raw nft: the very same table (what ``nft list table`` prints for Drillhall's, taken once
  at the start) loaded with ``ip netns exec a nft -f -`` and removed with
  ``ip netns exec a nft delete table inet NAME``, each timed the same way around the command.

The faults: network.partition (peer b, both directions) and network.loss (50 % of what a sends
to b). The two sides take turns at going first. On the first round and every
``--verify-every`` rounds, each side's work is checked from namespace b: after apply the table
is listed in a and pings from b are lost (all of them for partition, some for loss); after
revert the table is gone and pings come back. A check that fails ends the bench: no figures for
a fault that did not take effect. Prints p50 / p99 of apply and revert, in ms, for both sides,
and Drillhall's as a multiple of nft's.

The namespace lab is bench/bench_netns.py, shared with the other network benches.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from injector.faults.fault import Fault  # noqa: E402
from injector.faults.loss import LossFault  # noqa: E402
from injector.faults.partition import PartitionFault  # noqa: E402
from injector.protocol import FaultSpec  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from bench_netns import Lab, exit_on_sigterm, lab, p50_p99, sh  # noqa: E402

RUN_KEY = "be0"  # the bench's run key: its tables are drillhall_rbe0_s<step>
LOSS_PERCENT = 50


# -- the faults --
@dataclass(frozen=True)
class Kind:
    name: str
    build: Callable[[Lab], Fault]
    lost: Callable[[float], bool]  # whether a ping loss percent shows the fault on


def partition(lab: Lab) -> Fault:
    spec = FaultSpec(RUN_KEY, 1, 1, "network.partition", {"peers": [lab.address(lab.b)]})
    return PartitionFault(spec, lab.a)


def loss(lab: Lab) -> Fault:
    params = {"loss": LOSS_PERCENT, "destinations": [lab.address(lab.b)]}
    return LossFault(FaultSpec(RUN_KEY, 2, 1, "network.loss", params), lab.a)


KINDS = (
    Kind("network.partition", partition, lambda lost: lost == 100),
    # 20 pings at 50 %: all through, or none, once in a million.
    Kind("network.loss", loss, lambda lost: 0 < lost < 100),
)


def table_of(fault: Fault) -> str:
    table = getattr(fault, "table", None)
    assert isinstance(table, str)
    return table


def ping_loss(lab: Lab, count: int) -> float:
    """Percent of ``count`` pings from b to a that got no reply (b is outside the fault)."""
    out = sh(Lab.exec(lab.b, ["ping", "-n", "-q", "-c", str(count), "-i", "0.01", "-W", "0.3",
                              lab.address(lab.a)]), check=False)  # fmt: skip
    found = re.search(r"([0-9.]+)% packet loss", out)
    if not found:
        raise SystemExit(f"cannot read ping's output: {out.strip()!r}")
    return float(found.group(1))


def tables(lab: Lab) -> list[str]:
    doc = json.loads(sh(Lab.exec(lab.a, ["nft", "-j", "list", "tables"])))
    return [item["table"]["name"] for item in doc.get("nftables", []) if "table" in item]


def verify(lab: Lab, kind: Kind, table: str, side: str, applied: bool) -> None:
    listed = table in tables(lab)
    loss = ping_loss(lab, 20 if applied else 3)
    took = listed and kind.lost(loss) if applied else not listed and loss == 0
    if not took:
        state = "applied" if applied else "reverted"
        raise SystemExit(
            f"{kind.name} by {side}: {state}, yet table listed={listed}, ping loss {loss:.0f} %"
        )


def raw_nft(lab: Lab, table: str, text: str) -> tuple[Callable[[], object], Callable[[], object]]:
    """The raw mechanism's apply and revert: nft's text on stdin, then a plain delete."""
    return (
        lambda: sh(Lab.exec(lab.a, ["nft", "-f", "-"]), input=text),
        lambda: sh(Lab.exec(lab.a, ["nft", "delete", "table", "inet", table])),
    )


def timed(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument(
        "--verify-every", type=int, default=10, help="check from outside on round 0 and every N"
    )
    parser.add_argument("--json", help="write the figures here too (bench/run_all.py)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: the lab is network namespaces")
    exit_on_sigterm()
    # milliseconds per kind, side ("drillhall" / "nft") and step ("apply" / "revert")
    times: dict[str, dict[str, dict[str, list[float]]]] = {}
    checks = 0
    with tempfile.TemporaryDirectory(prefix="bh-fa-") as state, lab("fa") as net:
        os.environ["DRILLHALL_AGENT_STATE"] = state  # where LossFault keeps its record
        for kind in KINDS:
            # The raw side loads what Drillhall's table is, as nft itself prints it.
            fault = kind.build(net)
            table = table_of(fault)
            fault.apply()
            text = sh(Lab.exec(net.a, ["nft", "list", "table", "inet", table]))
            fault.revert()
            for i in range(args.rounds):
                ours = kind.build(net)  # a fresh object per request, as the agent makes one
                steps: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
                    "drillhall": (ours.apply, ours.revert),
                    "nft": raw_nft(net, table, text),
                }
                check = i % args.verify_every == 0
                order = list(steps) if i % 2 == 0 else list(reversed(steps))
                for side in order:
                    apply, revert = steps[side]
                    got = times.setdefault(kind.name, {}).setdefault(side, {})
                    got.setdefault("apply", []).append(timed(apply))
                    if check:
                        verify(net, kind, table, side, applied=True)
                    got.setdefault("revert", []).append(timed(revert))
                    if check:
                        verify(net, kind, table, side, applied=False)
                        checks += 1
            kind.build(net).revert()  # nothing left, whatever a failed round did
    figures: dict[str, Any] = {"rounds": args.rounds, "checks": checks, "faults": {}}
    print(f"apply / revert per fault, {args.rounds} rounds in namespace {net.a} (ms; "
          f"{checks} apply + revert pairs checked from outside):")  # fmt: skip
    print(f"| {'fault':<17} | {'step':<6} | {'Drillhall p50':>13} | {'p99':>7} "
          f"| {'nft p50':>7} | {'p99':>7} | {'× nft (p50)':>11} |")  # fmt: skip
    print(f"| {'-' * 17} | {'-' * 6} | {'-' * 13} | {'-' * 7} | {'-' * 7} | {'-' * 7} "
          f"| {'-' * 11} |")  # fmt: skip
    for name, sides in times.items():
        summary: dict[str, Any] = {
            side: {step: p50_p99(values) for step, values in got.items()}
            for side, got in sides.items()
        }
        summary["ratio_p50"] = {}
        for step in ("apply", "revert"):
            ours, raw = summary["drillhall"][step], summary["nft"][step]
            ratio = ours["p50"] / raw["p50"]
            summary["ratio_p50"][step] = ratio
            print(f"| {name:<17} | {step:<6} | {ours['p50']:13.1f} | {ours['p99']:7.1f} "
                  f"| {raw['p50']:7.1f} | {raw['p99']:7.1f} | {ratio:10.2f}× |")  # fmt: skip
        figures["faults"][name] = summary
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
