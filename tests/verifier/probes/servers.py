"""Real servers on loopback (or in a test namespace) for probe tests."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.conftest import free_port, require, run


@contextmanager
def redis_server(netns: str = "") -> Iterator[int]:
    """A private redis-server on a free loopback port, without persistence; yields the port.

    With ``netns``, the server runs inside that namespace (on its loopback)."""
    binary = shutil.which("redis-server")
    require(binary is not None, "needs redis-server (apt-get install redis-server)")
    assert binary is not None
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        prefix = ["ip", "netns", "exec", netns] if netns else []
        proc = subprocess.Popen(
            [*prefix, binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 5
            while True:
                try:
                    _connect(port, netns)
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.05)
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=5)


def _connect(port: int, netns: str) -> None:
    from ebpf.netns import run_in_netns

    def attempt() -> None:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()

    if netns:
        run_in_netns(netns, attempt, timeout=2)
    else:
        attempt()


class PrometheusStub:
    """Answers /api/v1/query with whatever document the test sets; records the queries."""

    def __init__(self) -> None:
        self.document: Any = {"status": "success", "data": {"resultType": "vector", "result": []}}
        self.status = 200
        self.queries: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                stub.queries.append(self.path)
                body = json.dumps(stub.document).encode()
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def scratch_namespace() -> Iterator[str]:
    """A fresh network namespace with loopback up; removed afterwards."""
    name = f"dhprobe-{uuid.uuid4().hex[:8]}"
    run(["ip", "netns", "add", name])
    try:
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        yield name
    finally:
        run(["ip", "netns", "delete", name], check=False)


def listen_in(namespace: str, host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket created inside ``namespace`` (sockets keep their namespace)."""
    from ebpf.netns import run_in_netns

    def make() -> socket.socket:
        sock = socket.socket()
        sock.bind((host, port))
        sock.listen(16)
        return sock

    sock = run_in_netns(namespace, make, timeout=5)
    threading.Thread(target=_accept_forever, args=(sock,), daemon=True).start()
    return sock


def _accept_forever(sock: socket.socket) -> None:
    # Accept and drop, so the backlog never fills however many samples connect.
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        conn.close()
