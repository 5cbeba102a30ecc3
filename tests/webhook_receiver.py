"""A webhook receiver on loopback, as a team would write one: it checks each message's
HMAC-SHA256 signature and timestamp with the channel's secret, refuses what fails, and keeps
what it accepted (one per delivery id: a resent delivery is the same message)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_AGE = 300  # seconds a timestamp may be old before the message counts as a replay


@dataclass
class Receiver:
    secret: str = ""
    fail_next: int = 0  # answer 500 to this many requests first
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    requests: int = 0
    bodies: list[bytes] = field(default_factory=list)  # every request's body, as it came
    deliveries: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.take(dict(self.headers.items()), body)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def take(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.requests += 1
            self.bodies.append(body)
            if self.fail_next > 0:
                self.fail_next -= 1
                return 500
            timestamp = headers.get("X-Drillhall-Timestamp", "")
            signature = headers.get("X-Drillhall-Signature", "")
            expected = (
                "sha256="
                + hmac.new(
                    self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
            )
            if not hmac.compare_digest(signature, expected):
                self.refused.append("bad signature")
                return 401
            if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_AGE:
                self.refused.append("stale timestamp")
                return 401
            delivery = headers.get("X-Drillhall-Delivery", "")
            self.deliveries.append(delivery)
            if delivery not in {m["delivery"] for m in self.accepted}:
                self.accepted.append(json.loads(body))
            return 204

    def events(self) -> list[str]:
        with self.lock:
            return [m["event"] for m in self.accepted]
