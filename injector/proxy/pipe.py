"""Copying bytes between two streams, optionally holding each chunk for a while."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from injector.proxy.deadline import Deadline

CHUNK = 65536
# Chunks in flight per direction: beyond this the reader waits (backpressure), so a slow
# upstream cannot make the proxy buffer without bound.
QUEUE_CHUNKS = 64


async def copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(CHUNK):
        writer.write(data)
        await writer.drain()
    _eof(writer)


async def copy_delayed(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: Callable[[], float]
) -> None:
    """Forward each chunk ``delay()`` seconds after it arrived, keeping the byte order.

    A chunk is never sent before the one read before it, so with jitter a chunk may wait a
    little longer than its own sample (TCP is a stream: reordering is not an option).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)

    async def send() -> None:
        deadline = Deadline()  # to the microsecond: asyncio's timers wake whole ms late
        try:
            while True:
                due, data = await queue.get()
                await deadline.wait_until(due)
                if not data:
                    _eof(writer)
                    return
                writer.write(data)
                await writer.drain()
        finally:
            deadline.close()

    sender = asyncio.create_task(send())
    try:
        last_due = 0.0
        while True:
            data = await reader.read(CHUNK)
            last_due = max(loop.time() + delay(), last_due)
            await queue.put((last_due, data))
            if not data:
                break
        await sender
    finally:
        sender.cancel()


async def splice(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    delay: Callable[[], float] | None = None,
) -> None:
    """Both directions until both ends are done (or one fails); then close both."""
    outbound = (
        copy_delayed(client[0], upstream[1], delay) if delay else copy(client[0], upstream[1])
    )
    tasks = [asyncio.ensure_future(outbound), asyncio.ensure_future(copy(upstream[0], client[1]))]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in pending:
            task.cancel()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, writer in (client, upstream):
            close(writer)


def _eof(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()


def close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        writer.close()
