"""The lab's demo web service: a checkout that must write to and read from Redis.

GET /checkout   INCR orders:seq, SET order:<n> <timestamp>, read it back:
                200 {"order": n}, or 503 {"error": "..."} when Redis fails.
GET /healthz    200 {"ok": true} whatever Redis does (the process is alive).

Redis timeouts are 0.5 s and retries are off, so a partition shows as quick 503s rather
than hanging requests: probes measure the fault, not a client's retry policy.

    python -m drills.lab.demoapp --listen 10.77.0.2:8080 --redis 10.77.0.3:6379
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

REDIS_TIMEOUT_S = 0.5


def split_hostport(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def make_redis(host: str, port: int) -> redis.Redis:
    return redis.Redis(
        host=host,
        port=port,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        # redis-py retries 10 times with backoff by default: one attempt, fail fast.
        retry=Retry(NoBackoff(), 0),
    )


def checkout(client: redis.Redis) -> int:
    """Record one order and read it back; raises on any Redis failure."""
    n = int(client.incr("orders:seq"))
    key = f"order:{n}"
    client.set(key, f"{time.time():.6f}")
    if client.get(key) is None:
        raise RuntimeError(f"{key} was acknowledged but cannot be read back")
    return n


class DemoHandler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._reply(200, {"ok": True})
        elif path == "/checkout":
            try:
                self._reply(200, {"order": checkout(self.server.redis)})
            except Exception as exc:  # any Redis failure is the fault we want to show
                self._reply(503, {"error": f"{type(exc).__name__}: {exc}"})
        else:
            self._reply(404, {"error": f"no route {path}"})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # Probes hit this several times a second: per-request lines would drown the log.
        pass


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen: tuple[str, int], client: redis.Redis) -> None:
        self.redis = client
        super().__init__(listen, DemoHandler)


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM from `lab down` should close the socket cleanly, like Ctrl-C.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drills.lab.demoapp", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=split_hostport, required=True, help="HOST:PORT")
    parser.add_argument("--redis", type=split_hostport, required=True, help="HOST:PORT")
    args = parser.parse_args(argv)

    server = DemoServer(args.listen, make_redis(*args.redis))
    signal.signal(signal.SIGTERM, _interrupt)
    host, port = args.listen
    print(f"demoapp listening on {host}:{port}, redis {args.redis[0]}:{args.redis[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
