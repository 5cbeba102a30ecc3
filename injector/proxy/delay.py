"""The transparent TCP proxy of network.latency: what the target sends is held, then forwarded.

nftables (nat output) redirects the target's outgoing connections here; the original
destination comes from SO_ORIGINAL_DST. The upstream connection is opened at once, so the
client's connect() completes without delay; every chunk the client then sends waits
``latency ± uniform(jitter)`` before it goes upstream, and replies pass straight back. A
request/response exchange therefore takes ``latency`` longer, like netem on the target's egress.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass

from injector.proxy import origdst, pipe

CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class DelayProxy:
    latency: float
    jitter: float

    def sample(self) -> float:
        return max(0.0, self.latency + random.uniform(-self.jitter, self.jitter))  # noqa: S311

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock: socket.socket = writer.get_extra_info("socket")
        try:
            destination = origdst.original_destination(sock)
            upstream = await asyncio.wait_for(connect(destination), CONNECT_TIMEOUT)
        except (OSError, TimeoutError):
            # Nowhere to go (not redirected, or the destination refuses): the client sees its
            # connection closed, as close to a refused connect as a proxy can get.
            pipe.close(writer)
            return
        delay: Callable[[], float] = self.sample
        await pipe.splice((reader, writer), upstream, delay)


async def connect(
    destination: tuple[str, int],
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = origdst.upstream_socket()
    try:
        await asyncio.get_running_loop().sock_connect(sock, destination)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)
