"""What the kernel collectors cost the work they watch: a loopback load with none, with the
eBPF collectors and with the /proc fallbacks attached.

    sudo .venv/bin/python bench/collectors.py [--rounds 7]

The load is bounded and stays on 127.0.0.1: CONNECTS TCP connects to a server thread of this
process, each with one 64-byte request and its echo, then READS 64-byte preads of a small
file. Every collector of ``ebpf.registry`` is opened through ``open_collector`` (eBPF forced on,
or forced off for /proc; syscall_latency has no /proc side), scoped to this process and the
host's network namespace as a drill would scope its target, and read once per second, as the
agent does. Prints the CPU time (user + system of this process, which is where a tracepoint
program runs for the events this process causes) and the wall time of the load: the median
of ``--rounds`` rounds, the set-ups (none, all eBPF, all /proc, each eBPF collector alone)
taking turns, and turns at going first, so that a busy machine hurts each alike. Then the
CPU cost per call of a pread (watched) and of a getppid (not watched): with no program, with
empty programs on pread64's tracepoints, with empty raw programs on sys_enter / sys_exit
(what syscall_latency would attach as raw tracepoints, which run for every system call), and
with syscall_latency scoped to another pid and to this one. Then two realistic service loads,
on services of the bench's own on 127.0.0.1: a Redis server answering REDIS_REQUESTS SETs and
GETs from redis-benchmark (10 connections), and the lab's checkout service
(drills/lab/demoapp.py, an HTTP request and three Redis commands per checkout) with its Redis
answering SHOP_REQUESTS checkouts from SHOP_CLIENTS keep-alive clients. Their CPU time is read from
/proc with no collector, with all six eBPF collectors and with syscall_latency alone, scoped
to the service's processes as a drill would scope its target (every request is a read() and a
write() that syscall_latency times). Last, the attach time (compile + load) of each collector.

Not counted: programs on sched_switch / sched_wakeup (runqueue_latency) and on block
completions run for every task on the host, and their cost there lands on those tasks.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ebpf.collector import Collector, CollectorUnavailable, Scope  # noqa: E402
from ebpf.registry import COLLECTORS, open_collector  # noqa: E402
from ebpf.syscalls import SyscallLatency  # noqa: E402

CONNECTS = 2000
REDIS_REQUESTS = 100_000  # SETs and GETs per round of the Redis load
SHOP_REQUESTS = 3_200  # checkouts per round of the lab's checkout service load
# Its clients: each waits about 40 ms per checkout (the service writes its headers and body
# apart, and Nagle holds the body for the client's delayed ACK), so many keep it busy.
SHOP_CLIENTS = 32
READS = 200_000
MESSAGE = b"x" * 64
INTERVAL = 1.0  # seconds between collector reads, as the agent reads them


@dataclass
class Cost:
    cpu: list[float]
    wall: list[float]

    def row(self) -> str:
        return f"{statistics.median(self.cpu):8.3f} {statistics.median(self.wall):8.3f}"


def echo_server(stop: threading.Event) -> tuple[int, threading.Thread]:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.settimeout(0.2)

    def serve() -> None:
        with listener:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                with conn:
                    conn.sendall(conn.recv(len(MESSAGE)))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def load(port: int, path: str, tick: Callable[[], None]) -> None:
    for i in range(CONNECTS):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(MESSAGE)
            conn.recv(len(MESSAGE))
        if i % 100 == 0:
            tick()
    fd = os.open(path, os.O_RDONLY)
    try:
        for i in range(READS):
            os.pread(fd, 64, 0)
            if i % 10_000 == 0:
                tick()
    finally:
        os.close(fd)


def measure(port: int, path: str, collectors: list[Collector], cost: Cost) -> None:
    last = time.monotonic()

    def tick() -> None:
        nonlocal last
        if time.monotonic() - last >= INTERVAL:
            last = time.monotonic()
            for collector in collectors:
                collector.read(time.time())

    cpu, wall = time.process_time(), time.perf_counter()
    load(port, path, tick)
    for collector in collectors:  # the last, partial interval is read too
        collector.read(time.time())
    cost.cpu.append(time.process_time() - cpu)
    cost.wall.append(time.perf_counter() - wall)


EMPTY_PROGRAMS = b"""
TRACEPOINT_PROBE(syscalls, sys_enter_pread64) { return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_pread64) { return 0; }
"""
# What syscall_latency would attach as raw tracepoints: programs run on every system call.
EMPTY_RAW_PROGRAMS = b"""
RAW_TRACEPOINT_PROBE(sys_enter) { return 0; }
RAW_TRACEPOINT_PROBE(sys_exit) { return 0; }
"""


def call_cost(call: Callable[[], object], calls: int = 200_000) -> float:
    """CPU microseconds per call, best of 5."""
    best = math.inf
    for _ in range(5):
        began = time.process_time()
        for _ in range(calls):
            call()
        best = min(best, time.process_time() - began)
    return best / calls * 1e6


def per_call(path: str) -> list[tuple[str, float, float]]:
    """Where syscall_latency's cost per call comes from: the tracepoint itself (programs that
    do nothing, on pread64's own tracepoints, and as raw tracepoints on every system call),
    the scope check alone (scoped to another pid), and the whole program; each for a watched
    call (a 64-byte pread) and a call nobody watches (getppid). (label, pread µs, getppid µs)"""
    from bcc import BPF

    fd = os.open(path, os.O_RDONLY)

    def costs() -> tuple[float, float]:
        return call_cost(lambda: os.pread(fd, 64, 0)), call_cost(os.getppid)

    try:
        rows = [("no program", *costs())]
        for label, text in (
            ("empty programs on pread64", EMPTY_PROGRAMS),
            ("empty raw programs, every call", EMPTY_RAW_PROGRAMS),
        ):
            empty = BPF(text=text)
            try:
                rows.append((label, *costs()))
            finally:
                empty.cleanup()
        for label, pid in (
            ("syscall_latency, other pid", 1),
            ("syscall_latency, this pid", os.getpid()),
        ):
            collector = SyscallLatency(Scope(pids=frozenset({pid})))
            collector.attach()
            try:
                rows.append((label, *costs()))
            finally:
                collector.close()
    finally:
        os.close(fd)
    return rows


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(port: int, request: bytes, answer: bytes, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(request)
                if answer in conn.recv(256):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit(f"{proc.args[0]} did not start on 127.0.0.1:{port}")
        time.sleep(0.05)


def redis_server(directory: str) -> tuple[subprocess.Popen[bytes], int]:
    """A Redis server of the bench's own on a free loopback port, nothing saved to disk."""
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", directory, "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(port, b"PING\r\n", b"+PONG", server)
    return server, port


def shop_app(redis_port: int) -> tuple[subprocess.Popen[bytes], int]:
    """The lab's checkout service (drills/lab/demoapp.py) on loopback, on that Redis."""
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "drills.lab.demoapp", "--listen", f"127.0.0.1:{port}",
         "--redis", f"127.0.0.1:{redis_port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(port, b"GET /healthz HTTP/1.0\r\n\r\n", b" 200 ", app)
    return app, port


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of another process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_benchmark(port: int) -> None:
    subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "10",
         "-n", str(REDIS_REQUESTS // 2), "-t", "set,get", "-q"],
        check=True, stdout=subprocess.DEVNULL, timeout=300,
    )  # fmt: skip


def checkouts(port: int) -> None:
    """SHOP_REQUESTS GET /checkout from SHOP_CLIENTS keep-alive clients."""

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for _ in range(SHOP_REQUESTS // SHOP_CLIENTS):
                conn.request("GET", "/checkout")
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise SystemExit(f"checkout answered {response.status}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(SHOP_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def service_round(
    pids: list[int], drive: Callable[[], None], collectors: list[Collector], cost: Cost
) -> None:
    """The services' CPU while ``drive`` loads them; the collectors are read once a second
    meanwhile, as the agent reads them."""
    done = threading.Event()

    def read_each_interval() -> None:
        while not done.wait(INTERVAL):
            for collector in collectors:
                collector.read(time.time())

    reader = threading.Thread(target=read_each_interval, daemon=True)
    cpu, wall = sum(map(process_cpu, pids)), time.perf_counter()
    reader.start()
    try:
        drive()
    finally:
        done.set()
        reader.join()
    for collector in collectors:
        collector.read(time.time())
    cost.cpu.append(sum(map(process_cpu, pids)) - cpu)
    cost.wall.append(time.perf_counter() - wall)


def service_loads(rounds: int, attach_s: dict[str, list[float]]) -> dict[str, dict[str, Cost]]:
    """The realistic loads, each service's CPU with no collector, all six eBPF ones and
    syscall_latency alone, scoped to the service's processes; the set-ups taking turns."""
    host_netns = os.stat("/proc/self/ns/net").st_ino
    found: dict[str, dict[str, Cost]] = {}
    with tempfile.TemporaryDirectory(prefix="drillhall-bench-redis-") as directory:
        redis, redis_port = redis_server(directory)
        shop, shop_port = shop_app(redis_port)
        try:
            services: dict[str, tuple[list[int], Callable[[], None]]] = {
                "redis": ([redis.pid], lambda: redis_benchmark(redis_port)),
                "shop": ([shop.pid, redis.pid], lambda: checkouts(shop_port)),
            }
            for service, (pids, drive) in services.items():
                scope = Scope(pids=frozenset(pids), netns_inodes=frozenset({host_netns}))
                setups: dict[str, tuple[Callable[[], list[Collector]], Cost]] = {
                    "none": (list, Cost([], [])),
                    "eBPF": (
                        lambda scope=scope: open_all(scope, True, attach_s),  # type: ignore[misc]
                        Cost([], []),
                    ),
                    "eBPF syscall_latency": (
                        lambda scope=scope: open_all(scope, True, {}, ("syscall_latency",)),  # type: ignore[misc]
                        Cost([], []),
                    ),
                }
                service_round(pids, drive, [], Cost([], []))  # warm-up
                order = list(setups.values())
                for i in range(rounds):
                    for opener, cost in order[i % len(order) :] + order[: i % len(order)]:
                        collectors = opener()
                        try:
                            service_round(pids, drive, collectors, cost)
                        finally:
                            for collector in collectors:
                                collector.close()
                found[service] = {label: cost for label, (_, cost) in setups.items()}
        finally:
            for proc in (shop, redis):
                proc.terminate()
                proc.wait(timeout=10)
    return found


def open_all(
    scope: Scope, ebpf: bool, attach_s: dict[str, list[float]], names: tuple[str, ...] = ()
) -> list[Collector]:
    opened = []
    for name in names or tuple(COLLECTORS):
        began = time.perf_counter()
        try:
            collector, _ = open_collector(name, scope, ebpf=ebpf)
        except CollectorUnavailable:
            continue  # syscall_latency has no /proc side
        key = f"{name} ({collector.source.value})"
        attach_s.setdefault(key, []).append(time.perf_counter() - began)
        opened.append(collector)
    return opened


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", help="write the figures here too (bench/run_all.py)")
    args = parser.parse_args(argv)
    rounds = args.rounds

    host_netns = os.stat("/proc/self/ns/net").st_ino
    ebpf_scope = Scope(pids=frozenset({os.getpid()}), netns_inodes=frozenset({host_netns}))
    # The /proc side reads the namespace it runs in when no netns_name is given.
    proc_scope = Scope(pids=frozenset({os.getpid()}))
    attach_s: dict[str, list[float]] = {}
    # Collectors are opened before and closed after each run, outside the timed part: an
    # attached eBPF program costs every run while it is attached, whichever set-up runs.
    setups: dict[str, tuple[Callable[[], list[Collector]], Cost]] = {
        "none": (list, Cost([], [])),
        "eBPF": (lambda: open_all(ebpf_scope, True, attach_s), Cost([], [])),
        "/proc": (lambda: open_all(proc_scope, False, attach_s), Cost([], [])),
    }
    # One eBPF collector at a time, to see which one costs what.
    for name in COLLECTORS:
        setups[f"eBPF {name}"] = (
            lambda name=name: open_all(ebpf_scope, True, {}, (name,)),  # type: ignore[misc]
            Cost([], []),
        )
    stop = threading.Event()
    port, server = echo_server(stop)
    with tempfile.NamedTemporaryFile() as data:
        data.write(MESSAGE * 16)
        data.flush()
        calls = per_call(data.name)
        try:
            measure(port, data.name, [], Cost([], []))  # warm-up: imports, caches
            order = list(setups.values())
            for i in range(rounds):
                # Each round starts with a different set-up, so none always runs last.
                for opener, cost in order[i % len(order) :] + order[: i % len(order)]:
                    collectors = opener()
                    try:
                        measure(port, data.name, collectors, cost)
                    finally:
                        for collector in collectors:
                            collector.close()
        finally:
            stop.set()
            server.join(timeout=2)
    services = service_loads(rounds, attach_s)

    print(f"load: {CONNECTS} loopback TCP connects with a 64-byte echo, {READS} 64-byte preads")
    print(f"median of {rounds} rounds, seconds")
    print(f"{'collectors':26} {'cpu':>8} {'wall':>8} {'cpu vs none':>12}")
    base = statistics.median(setups["none"][1].cpu)
    for label, (_, cost) in setups.items():
        extra = statistics.median(cost.cpu) / base - 1.0
        print(f"{label:26} {cost.row()} {extra:+11.1%}")
    print(
        f"realistic loads, the services' CPU, median of {rounds} rounds: a Redis server "
        f"answering {REDIS_REQUESTS} SETs and GETs from redis-benchmark (10 connections), and "
        f"the lab's checkout service and its Redis answering {SHOP_REQUESTS} checkouts"
    )
    for service, costs in services.items():
        service_base = statistics.median(costs["none"].cpu)
        for label, cost in costs.items():
            extra = statistics.median(cost.cpu) / service_base - 1.0
            print(f"  {service:6} {label:24} {cost.row()} {extra:+11.1%}")
    print("CPU per call, microseconds, best of 5 x 200000: a 64-byte pread, and getppid")
    for label, pread_us, getppid_us in calls:
        print(f"  {label:34} {pread_us:6.2f} {getppid_us:6.2f}")
    print("attach (compile + load) per collector, median seconds")
    for name, seconds in attach_s.items():
        print(f"  {name:34} {statistics.median(seconds):6.3f}")
    if args.json:
        figures = {
            label: {
                "cpu": statistics.median(cost.cpu),
                "cpu_vs_none": statistics.median(cost.cpu) / base - 1.0,
            }
            for label, (_, cost) in setups.items()
        }
        pread_us = {label: pread for label, pread, _ in calls}
        getppid_us = {label: getppid for label, _, getppid in calls}
        service_figures = {
            service: {
                label: {
                    "cpu": statistics.median(cost.cpu),
                    "cpu_vs_none": statistics.median(cost.cpu)
                    / statistics.median(costs["none"].cpu)
                    - 1.0,
                }
                for label, cost in costs.items()
            }
            for service, costs in services.items()
        }
        Path(args.json).write_text(json.dumps({"rounds": rounds, "setups": figures,
                                               "services": service_figures,
                                               "redis_requests": REDIS_REQUESTS,
                                               "shop_requests": SHOP_REQUESTS,
                                               "pread_us": pread_us, "getppid_us": getppid_us},
                                              indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
