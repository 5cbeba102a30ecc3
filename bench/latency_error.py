"""Added-latency error of network.latency: what a client sees added, minus what was asked for.

    sudo .venv/bin/python bench/latency_error.py [--count 50] [--latencies 10,100,500]

Builds two network namespaces of its own (``bh-le-<pid>-a`` and ``-b``, a veth pair; see
bench/bench_netns.py), with a plain Python echo server in b. For each latency (ms), an
independent client in a (plain sockets, no Drillhall code) opens a connection to the echo
server and times ``--count`` 32-byte round trips on it, first with no fault (the baseline),
then with the injector's own ``injector.faults.latency.LatencyFault`` applied on a (to b's
address and the echo port, no jitter), through whichever mechanism it picks on this kernel
(netem where there is one, else the nft redirect to its ``injector.proxy.delay`` proxy), then
reverted. The fault delays new connections only, so the client connects after apply. Each
round trip under the fault gives an error: its time minus the baseline's median minus the
latency asked for. Prints p50 and p99 of the error per latency (issue 14's goal: at most
1 ms at p50), with the baseline and the medians under the fault.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from bench_netns import Lab, exit_on_sigterm, lab, p50_p99  # noqa: E402

from injector.faults.latency import LatencyFault  # noqa: E402
from injector.protocol import FaultSpec  # noqa: E402

ECHO_PORT = 7300
MESSAGE = b"x" * 32
SOCKET_TIMEOUT = 5.0
GOAL_MS = 1.0


# -- the programs run inside the namespaces --
def serve_echo(address: str, port: int) -> None:
    listener = socket.create_server((address, port), backlog=16)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=echo_one, args=(conn,), daemon=True).start()


def echo_one(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def round_trips(address: str, port: int, count: int) -> list[float]:
    """``count`` 32-byte exchanges on one connection, each timed (seconds)."""
    rtts = []
    with socket.create_connection((address, port), timeout=SOCKET_TIMEOUT) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            began = time.perf_counter()
            conn.sendall(MESSAGE)
            got = 0
            while got < len(MESSAGE):
                chunk = conn.recv(64)
                if not chunk:
                    raise ConnectionError("the echo server closed early")
                got += len(chunk)
            rtts.append(time.perf_counter() - began)
    return rtts


# -- the bench --
def measure(net: Lab, count: int, latency_s: float) -> list[float]:
    """Round trips (ms) from a client run in namespace a, to the echo server in b."""
    argv = [sys.executable, __file__, "--role", "client", "--address", net.address(net.b),
            "--port", str(ECHO_PORT), "--count", str(count)]  # fmt: skip
    out = subprocess.run(
        Lab.exec(net.a, argv), capture_output=True, text=True, check=False,
        timeout=30 + count * (latency_s + SOCKET_TIMEOUT),
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"the client failed: {out.stderr.strip()}")
    return [s * 1000 for s in json.loads(out.stdout)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50, help="round trips per measurement")
    parser.add_argument("--latencies", default="10,100,500", help="ms, comma-separated")
    parser.add_argument("--json", help="write the figures here too (bench/run_all.py)")
    # The roles this script plays inside the namespaces.
    parser.add_argument("--role", choices=("echo", "client"), help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "echo":
        serve_echo(args.address, args.port)
        return
    if args.role == "client":
        print(json.dumps(round_trips(args.address, args.port, args.count)))
        return
    if os.geteuid() != 0:
        raise SystemExit("needs root: the lab is network namespaces with nftables")
    exit_on_sigterm()
    latencies = [int(ms) for ms in args.latencies.split(",")]
    settings: list[dict[str, object]] = []
    mechanism = ""
    with tempfile.TemporaryDirectory(prefix="bh-le-") as state, lab("le") as net:
        os.environ["DRILLHALL_AGENT_STATE"] = state  # the proxy child's pid and port files
        echo = subprocess.Popen(
            Lab.exec(net.b, [sys.executable, __file__, "--role", "echo",
                             "--address", net.address(net.b), "--port", str(ECHO_PORT)]),
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert echo.stdout is not None
            if echo.stdout.readline().strip() != "ready":
                raise SystemExit("the echo server did not start")
            for step, ms in enumerate(latencies, start=1):
                baseline = measure(net, args.count, 0)
                params = {"destinations": [net.address(net.b)], "ports": [ECHO_PORT],
                          "latency": ms / 1000, "jitter": 0.0}  # fmt: skip
                fault = LatencyFault(FaultSpec("be2", step, 1, "network.latency", params), net.a)
                try:
                    fault.apply()  # inside the try: a half-applied fault is reverted too
                    mechanism = fault.plan()["mechanism"]
                    during = measure(net, args.count, ms / 1000)
                finally:
                    fault.revert()
                base = statistics.median(baseline)
                settings.append({
                    "latency_ms": ms,
                    "baseline_p50_ms": base,
                    "during_p50_ms": statistics.median(during),
                    "error_ms": p50_p99([d - base - ms for d in during]),
                })  # fmt: skip
        finally:
            echo.kill()
            echo.wait(timeout=5)
    print(f"network.latency added-latency error, {args.count} round trips per setting, "
          f"mechanism {mechanism} (ms):")  # fmt: skip
    print(f"| {'asked':>5} | {'baseline p50':>12} | {'during p50':>10} | {'error p50':>9} "
          f"| {'error p99':>9} | {'≤ 1 ms p50':>10} |")  # fmt: skip
    print(f"| {'-' * 5} | {'-' * 12} | {'-' * 10} | {'-' * 9} | {'-' * 9} | {'-' * 10} |")
    for s in settings:
        error: dict[str, float] = s["error_ms"]  # type: ignore[assignment]
        met = "yes" if abs(error["p50"]) <= GOAL_MS else "no"
        print(f"| {s['latency_ms']:5} | {s['baseline_p50_ms']:12.3f} | {s['during_p50_ms']:10.3f} "
              f"| {error['p50']:+9.3f} | {error['p99']:+9.3f} | {met:>10} |")  # fmt: skip
    if args.json:
        figures = {"count": args.count, "mechanism": mechanism, "settings": settings}
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
