"""`make bench`: every performance figure of issue 14 in one invocation, beside its peer or goal.

    sudo .venv/bin/python bench/run_all.py [--quick]

Runs each bench script with ``--json``, one after another (they share the lab, so never at
once), writes everything to bench/results.json, and rewrites the table between the
``make bench`` markers in docs/performance.md: one row per measure, with Drillhall's figure,
the peer's or the goal, their ratio (absolute times drift on a shared machine; ratios less so)
and the command that reproduces the row. A bench that fails leaves its rows saying so, with
the last line it printed; a measure with no bench yet says that too, rather than vanishing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- make bench: begin -->", "<!-- make bench: end -->"


@dataclass(frozen=True)
class Bench:
    name: str
    argv: tuple[str, ...]
    quick: tuple[str, ...] = ()  # extra arguments for --quick

    @property
    def command(self) -> str:
        return "sudo .venv/bin/python " + " ".join(self.argv)


BENCHES = (
    Bench("first_fault", ("bench/first_fault.py",), ("--runs", "5")),
    Bench(
        "concurrent_drills",
        ("bench/concurrent_drills.py",),
        ("--drills", "10", "--viewers", "1,10"),
    ),  # fmt: skip
    Bench("agent_memory", ("bench/agent_memory.py",)),
    Bench("cli_vs_ctk", ("bench/cli_vs_ctk.py",), ("--runs", "2")),
    Bench("collectors", ("bench/collectors.py",), ("--rounds", "2")),
    Bench("fault_apply", ("bench/fault_apply.py",), ("--rounds", "10")),
    Bench("proxy_throughput", ("bench/proxy_throughput.py",), ("--mib", "32", "--rounds", "1")),
    Bench("latency_error", ("bench/latency_error.py",), ("--count", "10")),
)
COMMANDS = {bench.name: bench.command for bench in BENCHES}
# Measures of the issue that no bench script covers yet: listed, so the table says so.
# (measure, peer or goal) pairs; every measure of the issue has one now.
NOT_YET: tuple[tuple[str, str], ...] = ()


def run(bench: Bench, quick: bool, out: Path) -> dict[str, Any]:
    argv = [sys.executable, *bench.argv, "--json", str(out), *(bench.quick if quick else ())]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    took = time.monotonic() - started
    print(proc.stdout, end="", flush=True)
    if proc.returncode != 0 or not out.exists():
        # A SystemExit's message is on stderr; a traceback ends there too.
        lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        return {"error": lines[-1] if lines else f"exit {proc.returncode}", "seconds": took}
    return {"figures": json.loads(out.read_text()), "seconds": took}


Row = tuple[str, str, str, str, str]  # measure, Drillhall, peer or goal, ratio, command


def rows(results: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for bench in BENCHES:
        result = results.get(bench.name, {})
        if "error" in result:
            out.append((bench.name, "failed: " + result["error"], "", "", COMMANDS[bench.name]))
            continue
        out.extend(ROWS[bench.name](result.get("figures") or {}))
    out.extend((measure, "not measured: no bench yet", peer, "", "") for measure, peer in NOT_YET)
    return out


def _ratio(value: float, goal: float) -> str:
    return f"{value / goal:.2f}× the goal" if goal else ""


def first_fault_rows(f: dict[str, Any]) -> list[Row]:
    if "seconds" not in f:
        return []  # not run yet (an --only run of other benches)
    s = f["seconds"]["start -> first fault"]
    return [(
        f"start → first fault, warm workers, {f['runs']} runs (min / median / max)",
        f"{s['min']:.3f} / {s['median']:.3f} / {s['max']:.3f} s",
        "goal ≤ 0.100 s median; Chaos Toolkit's whole cold process 0.21–0.29 s",
        _ratio(s["median"], 0.1), COMMANDS["first_fault"],
    )]  # fmt: skip


def _orchestrators_cpu(d: dict[str, Any]) -> str:
    processes = d.get("orchestrators", 1)
    cpu = f"{100 * d['orchestrator_cpu']:.0f} %"
    if processes == 1:
        return f"orchestrator CPU {cpu}"
    return f"{processes} orchestrator processes' CPU {cpu}"


def concurrent_rows(f: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for d in f.get("drills", []):
        lag = d["lag_ms"]
        ended = ", ".join(f"{n} {s}" for s, n in sorted(d["states"].items()))
        out.append((
            f"{d['count']} drills at once (probes, collectors, a viewer each)",
            f"{ended}; {d['most_at_once']} at once; event lag p99 {lag.get('p99', 0):.0f} ms; "
            + _orchestrators_cpu(d)
            + (f", the machine's {100 * d['machine_cpu']:.0f} % of {100 * d['cores']} %"
               if "machine_cpu" in d else ""),
            "goal: ≥ 100 at once on 2 cores, p99 event lag ≤ 250 ms",
            _ratio(lag.get("p99", 0), 250), COMMANDS["concurrent_drills"],
        ))  # fmt: skip
    for v in f.get("viewers", []):
        lag = v["lag_ms"]
        if "p99" in lag:
            ours = f"p50 {lag['p50']:.0f} ms, p99 {lag['p99']:.0f} ms"
            ratio = _ratio(lag["p99"], 100)
        else:  # not a lag of 0 ms: nothing was measured
            states = ", ".join(f"{n} {s}" for s, n in sorted(v.get("states", {}).items()))
            ours = f"not measured: no live event arrived (the run: {states or 'unknown'})"
            ratio = ""
        out.append((
            f"sample → browser, {v['viewers']} viewer(s) of one run", ours,
            "goal: p99 ≤ 100 ms with 100 viewers", ratio, COMMANDS["concurrent_drills"],
        ))  # fmt: skip
    return out


def memory_rows(f: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for label, peaks in f.items():
        worst = max(peaks.items(), key=lambda item: sum(item[1].values()), default=None)
        if worst is None:
            continue
        host, parts = worst
        total = sum(parts.values()) / 1024
        out.append((
            f"agent memory, all six collectors, {label} (largest host)",
            f"{total:.0f} MiB on {host} (supervisor {parts.get('supervisor', 0) / 1024:.0f}, "
            f"worker {parts.get('worker', 0) / 1024:.0f})",
            "goal ≤ 120 MiB per host", _ratio(total, 120), COMMANDS["agent_memory"],
        ))  # fmt: skip
    return out


def cli_rows(f: dict[str, Any]) -> list[Row]:
    if "seconds" not in f:
        return []  # not run yet
    ours, peer = f["seconds"]["drillhall run"], f["seconds"]["chaos run"]
    return [(
        "a 3 s partition drill from the command line, nothing running before (median wall)",
        f"`drillhall run` {ours['median']:.2f} s",
        f"`chaos run` {peer['median']:.2f} s; goal ≤ 1.5× Chaos Toolkit",
        f"{f['ratio']:.2f}× Chaos Toolkit", COMMANDS["cli_vs_ctk"],
    )]  # fmt: skip


def collector_rows(f: dict[str, Any]) -> list[Row]:
    setups = f.get("setups", {})
    out: list[Row] = []
    for label in ("eBPF", "eBPF syscall_latency", "/proc"):
        if label in setups:
            extra = setups[label]["cpu_vs_none"]
            out.append((
                f"collector CPU overhead, {label}, worst-case load",
                f"{100 * extra:+.0f} % CPU", "no collector; goal ≤ +20 % worst case",
                _ratio(max(extra, 0.0), 0.20), COMMANDS["collectors"],
            ))  # fmt: skip
    described = {
        "redis": f"a Redis server answering {f.get('redis_requests', 0):,} SETs and GETs",
        "shop": f"the lab's checkout service and its Redis, {f.get('shop_requests', 0):,} "
        "checkouts",
    }
    for service, costs in f.get("services", {}).items():
        for label in ("eBPF", "eBPF syscall_latency"):
            if label in costs:
                extra = costs[label]["cpu_vs_none"]
                out.append((
                    f"collector CPU overhead, {label}, realistic load: "
                    f"{described.get(service, service)}",
                    f"{100 * extra:+.1f} % of the service's CPU",
                    "no collector; goal ≤ +3 % on a realistic service load",
                    _ratio(max(extra, 0.0), 0.03), COMMANDS["collectors"],
                ))  # fmt: skip
    return out


def fault_apply_rows(f: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for name, sides in f.get("faults", {}).items():
        ours, raw, ratio = sides["drillhall"], sides["nft"], sides["ratio_p50"]
        out.append((
            f"{name} apply / revert, p50 / p99 of {f['rounds']} rounds",
            f"apply {ours['apply']['p50']:.1f} / {ours['apply']['p99']:.1f} ms, "
            f"revert {ours['revert']['p50']:.1f} / {ours['revert']['p99']:.1f} ms",
            f"`nft -f -` {raw['apply']['p50']:.1f} / {raw['apply']['p99']:.1f} ms, "
            f"`nft delete table` {raw['revert']['p50']:.1f} / {raw['revert']['p99']:.1f} ms",
            f"{ratio['apply']:.2f}× / {ratio['revert']:.2f}× nft (p50 apply / revert)",
            COMMANDS["fault_apply"],
        ))  # fmt: skip
    return out


def proxy_rows(f: dict[str, Any]) -> list[Row]:
    if "mb_per_s" not in f:
        return []  # not run yet (an --only run of other benches)
    mbps = f["mb_per_s"]
    return [(
        f"latency proxy throughput at 0 ms, loopback, {f['mib']} MiB in 64 KiB writes "
        f"(median of {f['rounds']})",
        f"{mbps['Drillhall']:.0f} MB/s",
        f"socat {mbps['socat']:.0f} MB/s; direct {mbps['direct']:.0f} MB/s",
        f"{f['vs_socat']:.2f}× socat, {f['vs_direct']:.2f}× direct",
        COMMANDS["proxy_throughput"],
    )]  # fmt: skip


def latency_rows(f: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for s in f.get("settings", []):
        error = s["error_ms"]
        out.append((
            f"network.latency added-latency error at {s['latency_ms']} ms "
            f"({f['mechanism']}, {f['count']} round trips)",
            f"p50 {error['p50']:+.2f} ms, p99 {error['p99']:+.2f} ms",
            "goal ≤ 1 ms p50 error", _ratio(abs(error["p50"]), 1.0), COMMANDS["latency_error"],
        ))  # fmt: skip
    return out


ROWS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "first_fault": first_fault_rows,
    "concurrent_drills": concurrent_rows,
    "agent_memory": memory_rows,
    "cli_vs_ctk": cli_rows,
    "collectors": collector_rows,
    "fault_apply": fault_apply_rows,
    "proxy_throughput": proxy_rows,
    "latency_error": latency_rows,
}


def table(results: dict[str, Any], when: str) -> str:
    lines = [
        BEGIN,
        f"Written by `make bench` on {when} ({platform.node()}, {os.cpu_count()} cores); "
        "bench/results.json holds every figure." + measured_apart(results, when),
        "",
        "| measure | Drillhall | peer or goal | ratio | reproduce |",
        "| --- | --- | --- | --- | --- |",
    ]
    for measure, ours, peer, ratio, command in rows(results):
        lines.append(
            f"| {measure} | {ours} | {peer} | {ratio} | {f'`{command}`' if command else ''} |"
        )
    lines.append(END)
    return "\n".join(lines)


def measured_apart(results: dict[str, Any], when: str) -> str:
    """After an --only run, which benches' rows are older than the others, and from when."""
    older: dict[str, list[str]] = {}
    for bench in BENCHES:
        measured = results.get(bench.name, {}).get("measured", when)
        if measured != when:
            older.setdefault(measured, []).append(bench.name)
    return "".join(
        f" Rows of {', '.join(names)}: measured on {measured}, by an earlier run."
        for measured, names in sorted(older.items())
    )


def write_doc(block: str) -> None:
    text = DOC.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.replace("\n", "\n\n## `make bench`\n\n" + block + "\n", 1)
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and rounds: a smoke test")
    parser.add_argument("--only", help="comma-separated bench names")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: the lab is network namespaces, the collectors eBPF")
    wanted = set(args.only.split(",")) if args.only else {b.name for b in BENCHES}
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results: dict[str, Any] = dict(previous.get("benches", {}))
    for result in results.values():  # kept from a run that named no time per bench
        result.setdefault("measured", previous.get("written"))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out_dir = ROOT / "var" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    for bench in BENCHES:
        if bench.name in wanted:
            print(f"== {bench.name}: {bench.command}", flush=True)
            results[bench.name] = run(bench, args.quick, out_dir / f"{bench.name}.json")
            results[bench.name]["measured"] = when
    RESULTS.write_text(json.dumps({"written": when, "quick": args.quick, "benches": results},
                                  indent=2) + "\n")  # fmt: skip
    block = table(results, when)
    write_doc(block)
    print(block)


if __name__ == "__main__":
    main()
