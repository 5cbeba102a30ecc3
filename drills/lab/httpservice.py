"""What the lab's small HTTP services share: JSON replies, quiet logs, clean SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def split_hostport(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


class JsonHandler(BaseHTTPRequestHandler):
    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # Probes hit these services several times a second: per-request lines would drown the log.
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(server: ThreadingHTTPServer, banner: str) -> int:
    """Serve until SIGTERM (from `lab down`) or Ctrl-C, then close the socket cleanly."""
    signal.signal(signal.SIGTERM, _interrupt)
    print(banner, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
