"""The HTTP-aware proxy of http.error: fail a share of matching requests, forward the rest.

nftables (nat prerouting) redirects inbound connections for the service port here. The
proxy reads one request head, and a request that matches the methods and path prefix fails
with probability ``share`` percent (drawn from shuffled decks of 100, see Deck): it waits
``delay`` seconds (if set), then gets ``status`` or, when ``abort``, a connection reset.
Everything else is forwarded to the original destination (from SO_ORIGINAL_DST) over a
marked socket.

One request per connection: the forwarded head carries ``Connection: close``, so the service
closes after its response and a keep-alive client opens a new connection (and gets a new draw)
for its next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import random
import socket
import struct
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from injector.proxy import origdst, pipe
from injector.proxy.delay import CONNECT_TIMEOUT, connect

HEAD_TIMEOUT = 30.0
# Hop-by-hop headers replaced by "Connection: close" on the forwarded request.
_HOP_HEADERS = {b"connection", b"keep-alive", b"proxy-connection"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    head: bytes

    @classmethod
    def parse(cls, head: bytes) -> Request | None:
        line, _, _ = head.partition(b"\r\n")
        parts = line.split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            return None
        target = parts[1].decode("latin-1")
        # An absolute-form target (http://host/path) is matched on its path.
        path = (urlsplit(target).path or "/") if "://" in target else target
        return cls(parts[0].decode("latin-1"), path, head)

    def closing_head(self) -> bytes:
        lines = self.head.split(b"\r\n")
        kept = [
            ln
            for ln in lines[1:]
            if ln and ln.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS
        ]
        return b"\r\n".join([lines[0], *kept, b"Connection: close", b"", b""])


DECK = 100


@dataclass
class Deck:
    """Which matching requests fail: shuffled decks of 100 draws, ``share`` of them failures.

    Random order, but exact per 100 matching requests (a fractional share is rounded up or
    down at random per deck, so it holds on average): a drill measuring "50 % errors" sees 50 %,
    not whatever a coin gave it.
    """

    share: float  # percent, 0..100
    cards: list[bool] = field(default_factory=list)

    def draw(self) -> bool:
        if not self.cards:
            whole = int(self.share)
            fails = whole + (1 if random.random() < self.share - whole else 0)  # noqa: S311
            self.cards = [True] * min(fails, DECK) + [False] * max(0, DECK - fails)
            random.shuffle(self.cards)
        return self.cards.pop()


@dataclass(frozen=True)
class HttpFaultProxy:
    status: int
    share: float  # percent, 0..100
    path: str
    methods: frozenset[str] | None
    abort: bool
    delay: float | None
    deck: Deck = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "deck", Deck(self.share))

    def matches(self, request: Request) -> bool:
        if self.methods is not None and request.method not in self.methods:
            return False
        return request.path.startswith(self.path)

    def hit(self) -> bool:
        return self.deck.draw()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock: socket.socket = writer.get_extra_info("socket")
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pipe.close(writer)
            return
        request = Request.parse(head)
        if request is not None and self.matches(request) and self.hit():
            await self.fail(sock, writer)
            return
        await self.forward(sock, reader, writer, request.closing_head() if request else head)

    async def fail(self, sock: socket.socket, writer: asyncio.StreamWriter) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.abort:
            # Linger 0: close() sends RST, so the client sees a reset, not a clean end.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        writer.write(error_response(self.status))
        with contextlib.suppress(OSError):
            await writer.drain()
        pipe.close(writer)

    async def forward(
        self,
        sock: socket.socket,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        head: bytes,
    ) -> None:
        try:
            destination = origdst.original_destination(sock)
            upstream = await asyncio.wait_for(connect(destination), CONNECT_TIMEOUT)
        except (OSError, TimeoutError):
            writer.write(error_response(502))
            pipe.close(writer)
            return
        upstream[1].write(head)
        await pipe.splice((reader, writer), upstream)


def error_response(status: int) -> bytes:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    body = f"{status} {reason} (injected by drillhall http.error)\n".encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "X-Drillhall-Fault: http.error\r\n"
        "\r\n"
    ).encode() + body
