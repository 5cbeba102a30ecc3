"""The proxy of network.timeout (mode hold): accept every connection and never answer.

What the client sends is read and discarded, so its writes succeed and it waits for a reply
that never comes. Connections are held until the proxy is stopped (the fault's revert), when
the kernel closes them.
"""

from __future__ import annotations

import asyncio

from injector.proxy import pipe


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while await reader.read(pipe.CHUNK):
            pass
    except OSError:
        pass
    finally:
        pipe.close(writer)
