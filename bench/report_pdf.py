"""What a PDF report of a long drill costs: one hour of 1 Hz probe samples (issue 13's figure,
goal under 5 s).

    .venv/bin/python bench/report_pdf.py [--runs 3]

The run: the stored lab run of examples/redis-failover.yaml (tests/fixtures/reports/) stretched
to an hour: two probes at 1 Hz (3,600 samples each, 2 % failed), kernel collectors on three hosts
at 1 Hz (7 metrics each: 75,600 samples), one 20-minute partition in the middle, and the
stored run's other events. Prints the time to build the report model from the document and to
print the PDF, for each run and the median, and the PDF's size.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drills.report.build import build_report  # noqa: E402
from drills.report.formats import render_report  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "reports" / "redis-failover-run.json"
HOUR = 3600
METRICS = (
    "tcp_connect_attempts", "tcp_connects", "tcp_connect_failures", "tcp_connect_latency_ms",
    "tcp_resets_sent", "tcp_resets_received", "tcp_retransmits",
)  # fmt: skip


def hour_long_run() -> dict:
    stored = json.loads(FIXTURE.read_text())
    doc = copy.deepcopy(stored)
    rng = random.Random(13)
    t0 = stored["events"][0]["t"]
    kept = [e for e in stored["events"] if e["type"] not in ("sample",)]
    applied = next(e for e in kept if e["type"] == "fault_applied")
    reverted = next(e for e in kept if e["type"] == "fault_reverted")
    fault_on, fault_off = t0 + 1200, t0 + 2400
    events = []
    for e in kept:  # the stored run's story, spread over the hour
        t = e["t"] - t0
        if e["type"] == "fault_applied":
            t = 1200
        elif e["type"] == "fault_reverted":
            t = 2400
        elif t > 72:
            t = 2400 + (t - 72) * 10
        elif t > 12:
            t = 1200 + (t - 12)
        events.append({**e, "t": t0 + t})
    for s in range(HOUR):
        t = t0 + s + 0.5
        during = fault_on <= t <= fault_off
        for probe in ("checkout", "orders"):
            ok = rng.random() > (0.2 if during else 0.01)
            latency = rng.lognormvariate(1.5, 0.4) if ok else None
            events.append({"type": "sample", "t": t, "data": {
                "probe": probe, "ok": ok, "latency_ms": latency, "status": 200 if ok else None,
                "error": None if ok else "timed out"}})  # fmt: skip
        for host in ("db1", "db2", "web"):
            for metric in METRICS:
                value = float(rng.randint(0, 6 if during else 1))
                events.append({"type": "sample", "t": t + 0.1, "data": {
                    "probe": f"kernel.{metric}", "ok": True, "latency_ms": None, "status": None,
                    "error": None, "value": value, "host": host, "source": "ebpf",
                    "at": t}})  # fmt: skip
    events.sort(key=lambda e: e["t"])
    for seq, e in enumerate(events, 1):
        e["seq"] = seq
    doc["events"] = events
    assert applied and reverted
    return doc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    doc = hour_long_run()
    samples = sum(1 for e in doc["events"] if e["type"] == "sample")
    print(f"run: {len(doc['events'])} events, {samples} samples over {HOUR} s")
    render_report(build_report(doc), "pdf")  # warm up: fonts, imports
    builds, pdfs = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        report = build_report(doc)
        built = time.perf_counter()
        pdf = render_report(report, "pdf").content
        done = time.perf_counter()
        builds.append(built - start)
        pdfs.append(done - built)
        took = f"model {built - start:.2f} s, PDF {done - built:.2f} s, total {done - start:.2f} s"
        print(f"  {took}")
    total = statistics.median(b + p for b, p in zip(builds, pdfs, strict=True))
    print(f"median total: {total:.2f} s (goal < 5 s); PDF {len(pdf) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
