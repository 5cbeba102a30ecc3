"""Servers and independent clients for the proxy-based fault tests.

Imported by the tests (``ProxyLab``) and run inside the test namespaces as
``python -m tests.injector.proxy_lab <role> ...`` with ``ip netns exec``: the servers print
``ready`` once they listen, the clients print one JSON document with what they measured.
Every client is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import run
from tests.injector.netlab import NetPair

ROOT = Path(__file__).resolve().parents[2]
ECHO_PORT = 7000
WEB_PORT = 8080


# -- the programs run inside namespaces --
async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


def serve_echo(addr: str, port: int) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_echo, addr, port, reuse_address=True)
        print("ready", flush=True)
        await server.serve_forever()

    asyncio.run(main())


def serve_web(addr: str, port: int) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive unless the request says close

        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            body = b"real service\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = answer  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((addr, port), Handler)
    print("ready", flush=True)
    server.serve_forever()


def measure_rtt(addr: str, port: int, count: int) -> dict[str, Any]:
    """Connect (timed), then ``count`` 32-byte round trips on that one connection (each timed)."""
    started = time.perf_counter()
    sock = socket.create_connection((addr, port), timeout=5)
    connect = time.perf_counter() - started
    rtts = []
    for _ in range(count):
        started = time.perf_counter()
        sock.sendall(b"x" * 32)
        got = b""
        while len(got) < 32:
            chunk = sock.recv(64)
            if not chunk:
                raise ConnectionError("echo closed early")
            got += chunk
        rtts.append(time.perf_counter() - started)
    sock.close()
    return {"connect": connect, "rtts": rtts}


def http_requests(addr: str, port: int, count: int, method: str, path: str) -> dict[str, Any]:
    """``count`` requests, each on a new connection: how many got which status (or "abort").

    Also the bodies seen and the slowest request (seconds).
    """
    seen: dict[str, int] = {}
    bodies: set[str] = set()
    slowest = 0.0
    for _ in range(count):
        started = time.perf_counter()
        conn = http.client.HTTPConnection(addr, port, timeout=5)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            key = str(response.status)
            bodies.add(response.read().decode(errors="replace").strip())
        except (ConnectionError, http.client.HTTPException):
            key = "abort"
        finally:
            conn.close()
        seen[key] = seen.get(key, 0) + 1
        slowest = max(slowest, time.perf_counter() - started)
    return {"statuses": seen, "bodies": sorted(bodies), "slowest": slowest}


def probe_connection(addr: str, port: int, wait: float) -> dict[str, str]:
    """Connect within ``wait`` s, send a line, wait ``wait`` s for any answer: what happened."""
    sock = socket.socket()
    sock.settimeout(wait)
    try:
        sock.connect((addr, port))
    except TimeoutError:
        return {"connect": "timeout"}
    except ConnectionRefusedError:
        return {"connect": "refused"}
    except ConnectionResetError:
        return {"connect": "reset"}
    try:
        sock.sendall(b"hello\n")
        data = sock.recv(64)
        reply = "data" if data else "closed"
    except TimeoutError:
        reply = "timeout"
    except ConnectionResetError:
        reply = "reset"
    finally:
        sock.close()
    return {"connect": "ok", "reply": reply}


def main(argv: list[str]) -> None:
    role, addr, port, *rest = argv
    if role == "echo":
        serve_echo(addr, int(port))
    elif role == "web":
        serve_web(addr, int(port))
    elif role == "rtt":
        print(json.dumps(measure_rtt(addr, int(port), int(rest[0]))))
    elif role == "http":
        print(json.dumps(http_requests(addr, int(port), int(rest[0]), rest[1], rest[2])))
    elif role == "probe":
        print(json.dumps(probe_connection(addr, int(port), float(rest[0]))))
    else:
        raise SystemExit(f"unknown role {role}")


# -- the side the tests use --
class ProxyLab:
    """Servers started in the pair's namespaces, and clients run there; stops the servers."""

    def __init__(self, pair: NetPair) -> None:
        self.pair = pair
        self.servers: list[subprocess.Popen[str]] = []

    def __enter__(self) -> ProxyLab:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.servers:
            proc.kill()
            proc.wait(timeout=5)

    def _argv(self, ns: str, *args: str) -> list[str]:
        return ["ip", "netns", "exec", ns, sys.executable, "-m", "tests.injector.proxy_lab", *args]

    def serve(self, ns: str, role: str, port: int) -> None:
        proc = subprocess.Popen(  # noqa: S603
            self._argv(ns, role, self.pair.address(ns), str(port)),
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        self.servers.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", f"{role} server did not start"

    def client(self, ns: str, role: str, dst: str, port: int, *args: str) -> dict[str, Any]:
        """Run a client role in ns against the address of namespace dst; its JSON result."""
        argv = self._argv(ns, role, self.pair.address(dst), str(port), *args)
        out = subprocess.run(  # noqa: S603
            argv, capture_output=True, text=True, timeout=60, cwd=ROOT, check=True
        ).stdout
        return json.loads(out)  # type: ignore[no-any-return]


def proxy_processes(workdir: Path) -> list[int]:
    """Pids of processes whose command line names workdir (the fault's proxies), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(workdir).encode() in cmdline and b"injector.proxy" in cmdline:
            found.append(int(entry.name))
    return found


def nft_tables(ns: str) -> list[str]:
    out = run(["ip", "netns", "exec", ns, "nft", "list", "tables"]).stdout
    return [line.split()[-1] for line in out.splitlines() if line.startswith("table")]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main(sys.argv[1:])
