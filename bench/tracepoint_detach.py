"""What pausing a kept eBPF program costs: detaching four tracepoints (the tcp collectors'),
as classic tracepoints (a perf event each) and as raw tracepoints, through the agent's own
loader (ebpf/loaded_program.py). Closing a classic tracepoint's perf event waits for the
kernel's tracepoint grace period; a raw tracepoint's descriptor closes at once.

    sudo .venv/bin/python bench/tracepoint_detach.py [--rounds 5]

Prints min / median / max of the four detaches together, per kind, in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ebpf import loaded_program  # noqa: E402

EVENTS = [
    ("tcp", "tcp_retransmit_skb"),
    ("tcp", "tcp_send_reset"),
    ("tcp", "tcp_receive_reset"),
    ("sock", "inet_sock_set_state"),
]
# Empty probes: the cost measured is the attach kind's, not the program's.
# The classic form's argument struct for tcp_send_reset names an enum older headers lack.
CLASSIC = "#define sk_rst_reason bench_reason\nenum bench_reason { BENCH_ANY = 0 };\n"
CLASSIC += "BPF_HASH(calls, u32, u64, 4);\n" + "".join(
    f"TRACEPOINT_PROBE({c}, {e}) {{ return 0; }}\n" for c, e in EVENTS
)
RAW = "BPF_HASH(calls, u32, u64, 4);\n" + "".join(
    f"RAW_TRACEPOINT_PROBE({e}) {{ return 0; }}\n" for _, e in EVENTS
)


def detach_ms(source: Path, cflags: list[str], raw: bool) -> float:
    program = loaded_program.load(source, cflags, EVENTS, ["calls"], raw)
    try:
        started = time.perf_counter()
        for category, event in EVENTS:
            program.detach_tracepoint(f"{category}:{event}".encode())
        return (time.perf_counter() - started) * 1000
    finally:
        program.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: eBPF programs")
    with tempfile.TemporaryDirectory(prefix="drillhall-detach-") as tmp:
        os.environ["DRILLHALL_BPF_CACHE"] = str(Path(tmp) / "cache")
        classic, raw = Path(tmp) / "classic.bpf.c", Path(tmp) / "raw.bpf.c"
        classic.write_text(CLASSIC)
        raw.write_text(RAW)
        figures: dict[str, list[float]] = {"tracepoints": [], "raw tracepoints": []}
        for _ in range(args.rounds):
            figures["tracepoints"].append(detach_ms(classic, ["-w"], raw=False))
            figures["raw tracepoints"].append(detach_ms(raw, ["-w"], raw=True))
    print(f"detaching {len(EVENTS)} tracepoints, {args.rounds} rounds, min / median / max ms:")
    for kind, values in figures.items():
        print(f"  {kind:16} {min(values):7.1f} / {statistics.median(values):7.1f} / "
              f"{max(values):7.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
