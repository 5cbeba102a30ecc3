"""The lab's file service: writes and reads a file in a directory, for the IO faults.

Every request opens the file afresh, so a FUSE layer mounted over the directory after start
(io.delay, io.error) is in the path of the next request, and reports how long the file
operations took (the HTTP overhead excluded).

GET /write[?size=N]  write N bytes (default 4096) to <dir>/probe.dat, fsync, close:
                     200 {"ok": true, "op": "write", "latency_ms": ..}, or 503 {"error": ..}
GET /read            read <dir>/probe.dat back: 200 {"ok": true, "op": "read", "bytes": ..}
GET /healthz         200 {"ok": true}

    python -m drills.lab.filesvc --listen 10.77.0.2:8081 --dir /var/lib/drillhall/lab/data/files
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FILE_NAME = "probe.dat"
MAX_WRITE = 1 << 20
DEFAULT_WRITE = 4096


def split_hostport(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def write_file(directory: Path, size: int) -> None:
    fd = os.open(directory / FILE_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"d" * size)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_file(directory: Path) -> int:
    with (directory / FILE_NAME).open("rb") as fh:
        return len(fh.read())


class FilesHandler(BaseHTTPRequestHandler):
    server: FilesServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._reply(200, {"ok": True})
            return
        if url.path not in ("/write", "/read"):
            self._reply(404, {"error": f"no route {url.path}"})
            return
        try:
            size = int(parse_qs(url.query).get("size", [str(DEFAULT_WRITE)])[0])
        except ValueError:
            self._reply(400, {"error": "size must be an integer"})
            return
        if not 0 <= size <= MAX_WRITE:
            self._reply(400, {"error": f"size must be 0..{MAX_WRITE}"})
            return
        started = time.perf_counter()
        try:
            if url.path == "/write":
                write_file(self.server.directory, size)
                body: dict[str, Any] = {"op": "write", "bytes": size}
            else:
                body = {"op": "read", "bytes": read_file(self.server.directory)}
        except OSError as exc:  # EIO / ENOSPC from an io.error fault is the point
            latency = (time.perf_counter() - started) * 1000
            self._reply(503, {"error": f"{type(exc).__name__}: {exc}", "errno": exc.errno,
                              "latency_ms": round(latency, 3)})  # fmt: skip
            return
        latency = (time.perf_counter() - started) * 1000
        self._reply(200, {"ok": True, **body, "latency_ms": round(latency, 3)})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # probes call this several times a second


class FilesServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen: tuple[str, int], directory: Path) -> None:
        self.directory = directory
        super().__init__(listen, FilesHandler)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drills.lab.filesvc", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=split_hostport, required=True, help="HOST:PORT")
    parser.add_argument("--dir", type=Path, required=True, help="the directory to write into")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    server = FilesServer(args.listen, args.dir)
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"files listening on {args.listen[0]}:{args.listen[1]}, dir {args.dir}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
