"""Proxy throughput: Drillhall's latency proxy at 0 ms against socat and a direct connection.

    sudo .venv/bin/python bench/proxy_throughput.py [--mib 256] [--rounds 3]

Everything runs on the loopback of one network namespace of the bench's own (``bh-pt-<pid>-a``,
see bench/bench_netns.py): a sink server (plain Python: reads and discards, then answers with
the byte count it got and the port of its peer), and one client per transfer that sends
``--mib`` MiB in 64 KiB writes, shuts its side down and waits for the count. Three paths:

- direct: the client to the sink;
- socat: ``socat TCP-LISTEN:7201,reuseaddr,fork TCP:127.0.0.1:7200`` between them (Debian
  package socat; the bench stops and says so when it is missing);
- Drillhall: network.latency's proxy path as the injector applies it
  (``injector.faults.latency.LatencyFault``: an nft nat redirect of the sink's port to a
  ``python -m injector.proxy tcp`` child, i.e. ``injector.proxy.delay.DelayProxy``), forced to
  the proxy and to 0 ms added delay. The fault is applied just before that transfer and
  reverted after it, so the other two paths run with no nat table in the namespace.

A transfer is bounded by ``--mib`` and by ``--seconds`` (it stops sending at the deadline).
The sink's answer also tells whether a relay sat in between (its peer's port is not the
client's): a path that was not relayed as it should be ends the bench. Paths take turns at
going first; each gets one 1 MiB warm-up. Prints the median MB/s (10^6 bytes) of ``--rounds``
transfers per path, and Drillhall's as a multiple of socat's and of direct.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from bench_netns import Lab, exit_on_sigterm, lab, sh  # noqa: E402

from injector.faults.latency import LatencyFault, Mechanism  # noqa: E402
from injector.protocol import FaultSpec  # noqa: E402

SINK_PORT = 7200
SOCAT_PORT = 7201
WRITE = 64 * 1024
REPLY = struct.Struct("!QH")  # bytes received, the sink's peer port
PATHS = ("direct", "socat", "Drillhall")
START_TIMEOUT = 5.0


# -- the programs run inside the namespace --
def serve_sink(port: int) -> None:
    listener = socket.create_server(("127.0.0.1", port), backlog=64)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=sink_one, args=(conn,), daemon=True).start()


def sink_one(conn: socket.socket) -> None:
    buffer = bytearray(256 * 1024)
    total = 0
    with conn:
        while n := conn.recv_into(buffer):
            total += n
        conn.sendall(REPLY.pack(total, conn.getpeername()[1]))


def send(port: int, total: int, seconds: float) -> dict[str, object]:
    """Send ``total`` bytes (fewer if ``seconds`` run out) in 64 KiB writes; what arrived."""
    chunk = memoryview(bytes(WRITE))
    deadline = time.monotonic() + seconds
    began = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as conn:
        local = conn.getsockname()[1]
        sent = 0
        while sent < total and time.monotonic() < deadline:
            n = min(WRITE, total - sent)
            conn.sendall(chunk[:n])
            sent += n
        conn.shutdown(socket.SHUT_WR)
        reply = b""
        while len(reply) < REPLY.size:
            got = conn.recv(REPLY.size - len(reply))
            if not got:
                raise ConnectionError("the sink closed without its count")
            reply += got
    took = time.perf_counter() - began
    received, peer_port = REPLY.unpack(reply)
    return {"bytes": received, "seconds": took, "relayed": peer_port != local}


# -- the bench --
class ZeroDelay(LatencyFault):
    """network.latency through the proxy, as the injector applies it, at 0 ms added delay."""

    def mechanism(self) -> Mechanism:
        return "proxy"  # the proxy even on a kernel with netem: it is what is measured

    def proxy_args(self) -> list[str]:
        # A playbook's latency must be positive; the proxy itself takes 0.
        return ["tcp", "--latency", "0", "--jitter", "0"]


def start(argv: list[str], ready: str | None = None) -> subprocess.Popen[str]:
    # A session of its own, so that stopping it takes socat's forked children too.
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE if ready else subprocess.DEVNULL, text=True,
        start_new_session=True,
    )  # fmt: skip


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)


def wait_listening(ns: str, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if sh(Lab.exec(ns, ["ss", "-Hltn", f"sport = :{port}"])).strip():
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port} in {ns} after {START_TIMEOUT} s")


def transfer(ns: str, port: int, total: int, seconds: float) -> dict[str, object]:
    argv = [sys.executable, __file__, "--role", "client", "--port", str(port),
            "--bytes", str(total), "--seconds", str(seconds)]  # fmt: skip
    out = subprocess.run(
        Lab.exec(ns, argv), capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"the client failed on port {port}: {out.stderr.strip()}")
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def run_path(ns: str, path: str, total: int, seconds: float) -> float:
    """One transfer on ``path``; its MB/s."""
    fault = None
    if path == "Drillhall":
        spec = FaultSpec("be1", 1, 1, "network.latency", {"ports": [SINK_PORT], "latency": 1e-3})
        fault = ZeroDelay(spec, ns)
    try:
        if fault is not None:
            fault.apply()  # inside the try: a half-applied fault (a proxy, no table) is reverted
        got = transfer(ns, SOCAT_PORT if path == "socat" else SINK_PORT, total, seconds)
    finally:
        if fault is not None:
            fault.revert()
    if got["relayed"] != (path != "direct"):
        raise SystemExit(f"{path}: relayed={got['relayed']}, which is not that path")
    return float(got["bytes"]) / float(got["seconds"]) / 1e6  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=256, help="MiB per transfer")
    parser.add_argument("--rounds", type=int, default=3, help="transfers per path")
    parser.add_argument("--seconds", type=float, default=60.0, help="at most, per transfer")
    parser.add_argument("--json", help="write the figures here too (bench/run_all.py)")
    # The roles this script plays inside the namespace.
    parser.add_argument("--role", choices=("sink", "client"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bytes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "sink":
        serve_sink(args.port)
        return
    if args.role == "client":
        print(json.dumps(send(args.port, args.bytes, args.seconds)))
        return
    if os.geteuid() != 0:
        raise SystemExit("needs root: the lab is a network namespace with nftables")
    socat = shutil.which("socat")
    if socat is None:
        raise SystemExit("socat is not installed, and it is the peer: apt-get install -y socat")
    exit_on_sigterm()
    total = args.mib * 1024 * 1024
    mbps: dict[str, list[float]] = {path: [] for path in PATHS}
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory(prefix="bh-pt-") as state, lab("pt", pair=False) as net:
        os.environ["DRILLHALL_AGENT_STATE"] = state  # the proxy child's pid and port files
        try:
            sink = start(Lab.exec(net.a, [sys.executable, __file__, "--role", "sink",
                                          "--port", str(SINK_PORT)]), ready="ready")  # fmt: skip
            procs.append(sink)
            assert sink.stdout is not None
            if sink.stdout.readline().strip() != "ready":
                raise SystemExit("the sink did not start")
            procs.append(start(Lab.exec(net.a, [
                socat, f"TCP-LISTEN:{SOCAT_PORT},reuseaddr,fork", f"TCP:127.0.0.1:{SINK_PORT}",
            ])))  # fmt: skip
            wait_listening(net.a, SOCAT_PORT)
            for path in PATHS:
                run_path(net.a, path, 1024 * 1024, args.seconds)  # warm-up, not counted
            for i in range(args.rounds):
                for path in PATHS[i % 3 :] + PATHS[: i % 3]:
                    mbps[path].append(run_path(net.a, path, total, args.seconds))
        finally:
            for proc in procs:
                stop(proc)
    median = {path: statistics.median(values) for path, values in mbps.items()}
    ours = median["Drillhall"]
    print(f"loopback throughput, {args.mib} MiB in 64 KiB writes, median of {args.rounds} "
          f"(MB/s, 10^6 bytes):")  # fmt: skip
    print(f"| {'path':<10} | {'MB/s':>8} | {'Drillhall ×':>11} |")
    print(f"| {'-' * 10} | {'-' * 8} | {'-' * 11} |")
    for path in PATHS:
        print(f"| {path:<10} | {median[path]:8.0f} | {ours / median[path]:10.2f}× |")
    if args.json:
        figures = {
            "mib": args.mib,
            "rounds": args.rounds,
            "mb_per_s": median,
            "vs_socat": ours / median["socat"],
            "vs_direct": ours / median["direct"],
        }
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
