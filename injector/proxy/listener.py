"""The listening side every proxy shares: bind, publish the port, serve until killed."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def bind(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))  # the kernel picks a free port; the agent reads it from the port file
    sock.listen(1024)
    return sock


def publish_port(port_file: Path, port: int) -> None:
    # Written atomically: the agent polls for this file and must never read half a number.
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(f"{port}\n")
    os.replace(tmp, port_file)


async def serve(sock: socket.socket, handler: Handler) -> None:
    server = await asyncio.start_server(handler, sock=sock)
    async with server:
        await server.serve_forever()


def run(host: str, port_file: Path, handler: Handler) -> None:
    sock = bind(host)
    publish_port(port_file, sock.getsockname()[1])
    # SIGTERM (from injector.children.stop) ends the process with the default action: there is
    # nothing to flush, and every held or proxied connection is closed by the kernel.
    asyncio.run(serve(sock, handler))
