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
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from drills.lab.httpservice import JsonHandler, Server, serve, split_hostport

FILE_NAME = "probe.dat"
MAX_WRITE = 1 << 20
DEFAULT_WRITE = 4096


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


class FilesHandler(JsonHandler):
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


class FilesServer(Server):
    def __init__(self, listen: tuple[str, int], directory: Path) -> None:
        self.directory = directory
        super().__init__(listen, FilesHandler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drills.lab.filesvc", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=split_hostport, required=True, help="HOST:PORT")
    parser.add_argument("--dir", type=Path, required=True, help="the directory to write into")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    server = FilesServer(args.listen, args.dir)
    return serve(server, f"files listening on {args.listen[0]}:{args.listen[1]}, dir {args.dir}")


if __name__ == "__main__":
    sys.exit(main())
