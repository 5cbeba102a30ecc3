"""Many drills at once: N lab drills started together, each a partition of db1 from web on a
port of its own, with an HTTP probe and the partition's kernel collectors, each watched by a
websocket viewer of the live page; then one drill watched by V viewers.

    sudo .venv/bin/python bench/concurrent_drills.py [--drills 10,50,100,150] [--viewers 1,10,100]

Brings up the lab, the web server (daphne), the orchestrator workers (one per core, as `make
demo` starts them) and the lab's agents on a Redis database and a SQLite file of the bench's
own. For each N: N runs are created (their plans stored), a viewer connects to each run's
socket as a signed-in user, then all N are handed to the orchestrators at once, as N clicks on
Start would. Reports, per N: how many runs ended and in which state (none may be lost), the
wall time until the last ended, the most runs in progress at once, the orchestrators' CPU,
and the event lag: from an event's time (stamped when the engine emits it) to its arrival at
a viewer, p50 / p99 / max over every live event of every run. Then the lag with V viewers on
one run.

The lag is what a person sees: storing the event, the channel layer, the consumer and the
socket. Events the socket replays on connect are not live and are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_stack import ROOT, USER, Workers, bench_database  # noqa: E402

PLAYBOOK = ROOT / "bench" / "playbooks" / "concurrent-partition.yaml"
FIRST_PORT = 20000


def playbook_text(index: int) -> str:
    text = PLAYBOOK.read_text()
    return (
        text.replace("bench-concurrent", f"bench-concurrent-{index}")
        .replace("ports: [20000]", f"ports: [{FIRST_PORT + index}]")
        .replace("port: 20000", f"port: {FIRST_PORT + index}")
    )


class Viewer:
    """One live page's socket: every event it receives, with when it arrived.

    A minimal websocket client (RFC 6455: text frames in, pongs out) on asyncio streams: the
    bench process has set up Django, whose Channels import binds autobahn to Twisted."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        self.ended = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self, port: int, run_id: int, cookie: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (f"GET /ws/runs/{run_id}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
             f"Origin: http://127.0.0.1:{port}\r\nCookie: {cookie}\r\n\r\n").encode()
        )  # fmt: skip
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise SystemExit(f"run {run_id}: the socket was refused: {head[:80]!r}")
        self.writer = writer
        self.task = asyncio.get_running_loop().create_task(self._receive(reader))

    async def _receive(self, reader: asyncio.StreamReader) -> None:
        message = b""
        try:
            while True:
                first, second = await reader.readexactly(2)
                length = second & 0x7F
                if length == 126:
                    length = int.from_bytes(await reader.readexactly(2), "big")
                elif length == 127:
                    length = int.from_bytes(await reader.readexactly(8), "big")
                payload = await reader.readexactly(length)
                opcode = first & 0x0F
                if opcode == 0x8:
                    return
                if opcode == 0x9:  # a ping: the server closes a socket that never answers
                    self._pong(payload)
                    continue
                if opcode in (0x0, 0x1):
                    message += payload
                    if first & 0x80:  # the last fragment
                        event = json.loads(message)
                        message = b""
                        self.arrivals.append((time.time(), event))
                        if event.get("type") == "result":
                            return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.ended.set()

    def _pong(self, payload: bytes) -> None:
        # A client's frames are masked (RFC 6455, 5.3); a ping's payload is under 126 bytes.
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.writer is not None
        self.writer.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def session_cookie() -> str:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=USER))
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def versions(count: int) -> list[Any]:
    from django.contrib.auth import get_user_model

    from drills.cli.acting_user import version_to_run

    user = get_user_model().objects.get(username=USER)
    return [
        version_to_run(
            user, f"bench-concurrent-{i}", "platform-team", playbook_text(i), "bench"
        ).version  # fmt: skip
        for i in range(count)
    ]


def machine_busy() -> float:
    """CPU seconds the whole machine has spent not idle, over all cores (/proc/stat)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def drive(port: int, runs: list[Any], viewers_per_run: int, limit: float) -> dict[str, Any]:
    """Connect the viewers, hand every run over at once, wait for every result."""
    from asgiref.sync import sync_to_async

    from drills.web.run_control import enqueue_run

    cookie = await sync_to_async(session_cookie)()
    viewers: list[Viewer] = []
    for run in runs:
        for _ in range(viewers_per_run):
            viewer = Viewer()
            await viewer.connect(port, run.id, cookie)
            viewers.append(viewer)
    await asyncio.sleep(0.5)  # every socket has replayed the (empty) stream
    connected = time.time()
    started = time.monotonic()
    for run in runs:
        await sync_to_async(enqueue_run)(run)
    try:
        await asyncio.wait_for(asyncio.gather(*(v.ended.wait() for v in viewers)), limit)
    except TimeoutError:
        pass
    wall = time.monotonic() - started
    for viewer in viewers:
        viewer.close()
    lags: list[float] = []
    kernel: list[float] = []
    for viewer in viewers:
        for arrived, event in viewer.arrivals:
            if float(event["t"]) < connected:
                continue
            probe = str((event.get("data") or {}).get("probe", ""))
            # A kernel sample's time is the end of the agent's interval; it reaches the run
            # with the next drain of the agents' samples, by design up to an interval later.
            into = kernel if event["type"] == "sample" and probe.startswith("kernel.") else lags
            into.append(arrived - float(event["t"]))
    reasons = {str(v.arrivals[-1][1].get("data", {}).get("reason", "")) for v in viewers
               if v.arrivals and v.arrivals[-1][1].get("type") == "result"}  # fmt: skip
    return {"wall": wall, "lags": lags, "kernel_lags": kernel, "reasons": sorted(reasons)}


def outcome(runs: list[Any]) -> tuple[dict[str, int], int]:
    """States of the runs, and the most that were in progress at once (from their rows)."""
    from drills.web.models import DrillRun

    rows = list(DrillRun.objects.filter(id__in=[r.id for r in runs]))
    states: dict[str, int] = {}
    for row in rows:
        states[row.state] = states.get(row.state, 0) + 1
    spans = [(r.started_at, r.finished_at) for r in rows if r.started_at and r.finished_at]
    most = max((sum(1 for s, e in spans if s <= t < e) for t, _ in spans), default=0)
    return states, most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drills", default="10,50,100,150")
    parser.add_argument("--viewers", default="1,10,100")
    parser.add_argument("--port", type=int, default=8779)
    parser.add_argument("--orchestrators", type=int, default=None,
                        help="orchestrator worker processes sharing the queue (default: "
                        "DRILLHALL_ORCHESTRATOR_PROCESSES, one per core)")  # fmt: skip
    parser.add_argument("--json", help="write the figures here too (bench/run_all.py)")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the workers' logs even when every run passed")  # fmt: skip
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12",
                        help="a Redis database of the bench's own")  # fmt: skip
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: the lab is network namespaces")
    counts = [int(n) for n in args.drills.split(",") if n]
    viewer_counts = [int(n) for n in args.viewers.split(",") if n]
    rows: list[str] = []
    figures: dict[str, list[dict[str, Any]]] = {"drills": [], "viewers": []}
    with bench_database(args.redis) as (tmp, env):
        stack = Workers(env, tmp, web_port=args.port, orchestrators=args.orchestrators)
        stack.up()
        try:
            from drills.web.run_control import create_run

            warm = versions(1)
            asyncio.run(drive(args.port, [create_run(warm[0])], 1, 60))  # compiles collectors
            for count in counts:
                made = versions(count)
                runs = [create_run(version) for version in made]
                before = sum(map(cpu_seconds, stack.orchestrator_pids))
                busy_before = machine_busy()
                result = asyncio.run(drive(args.port, runs, 1, 120 + count))
                cpu = sum(map(cpu_seconds, stack.orchestrator_pids)) - before
                machine = (machine_busy() - busy_before) / result["wall"]
                states, most = outcome(runs)
                figures["drills"].append({
                    "count": count, "states": states, "most_at_once": most,
                    "wall_s": result["wall"], "orchestrator_cpu": cpu / result["wall"],
                    "machine_cpu": machine, "cores": os.cpu_count(),
                    "orchestrators": stack.orchestrators,
                    "lag_ms": lag_summary(result["lags"]),
                    "kernel_lag_ms": lag_summary(result["kernel_lags"]),
                    "reasons": result["reasons"],
                })  # fmt: skip
                rows.append(
                    f"| {count} drills, 1 viewer each | {said(states)} | {most} | "
                    f"{result['wall']:.1f} s | {100 * cpu / result['wall']:.0f} % "
                    f"(machine {100 * machine:.0f} % of {os.cpu_count()} cores) | "
                    f"{said_lag(result['lags'])} | {said_lag(result['kernel_lags'])} |"
                )
                print(rows[-1], "; ".join(result["reasons"]), flush=True)
            for viewers in viewer_counts:
                run = create_run(versions(1)[0])
                result = asyncio.run(drive(args.port, [run], viewers, 60))
                states, _ = outcome([run])
                figures["viewers"].append(
                    {"viewers": viewers, "states": states, "lag_ms": lag_summary(result["lags"])}
                )
                rows.append(
                    f"| 1 drill, {viewers} viewers | {said(states)} | 1 | "
                    f"{result['wall']:.1f} s | | {said_lag(result['lags'])} | "
                    f"{said_lag(result['kernel_lags'])} |"
                )
                print(rows[-1], flush=True)
        finally:
            stack.down()
            went_wrong = [
                f"{figure['count']} drills: {said(figure['states'])}"
                for figure in figures["drills"]
                if set(figure["states"]) != {"passed"}
            ]
            if went_wrong or args.keep_logs:
                kept = stack.keep_logs("; ".join(went_wrong) or "every run passed")
                print(f"the workers' logs are kept in {kept}", flush=True)
    print()
    print("| drills | ended | most at once | wall | orchestrator CPU | event lag p50 / p99 / max "
          "| kernel sample lag p50 / p99 / max |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(row)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


def said(states: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in sorted(states.items()))


def said_lag(lags: list[float]) -> str:
    if not lags:
        return "no events"
    return (f"{1000 * statistics.median(lags):.0f} / {1000 * percentile(lags, 99):.0f} / "
            f"{1000 * max(lags):.0f} ms ({len(lags)} events)")  # fmt: skip


def lag_summary(lags: list[float]) -> dict[str, float]:
    if not lags:
        return {"events": 0}
    return {
        "events": len(lags),
        "p50": 1000 * statistics.median(lags),
        "p99": 1000 * percentile(lags, 99),
        "max": 1000 * max(lags),
    }


if __name__ == "__main__":
    main()
