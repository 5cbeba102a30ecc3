"""The channel layer as the settings configure it, against the real Redis: a page that goes
away at any moment takes its receive with it."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync

pytestmark = pytest.mark.timeout(120)

# Cancelled a little later each time, so some cancellations land as a command's send completes.
TRIES = 300
STEP_S = 0.0002


def test_a_receive_cancelled_at_any_moment_ends(redis_layer) -> None:
    stuck: list[float] = []

    async def scenario() -> None:
        for i in range(TRIES):
            channel = await redis_layer.new_channel()
            receive = asyncio.ensure_future(redis_layer.receive(channel))
            delay = (i % 50) * STEP_S
            await asyncio.sleep(delay)
            receive.cancel()
            # Longer than the layer's blocking pop (5 s): a lost cancellation pops again.
            done, _ = await asyncio.wait({receive}, timeout=7)
            if receive not in done:
                stuck.append(delay)
                return

    async_to_sync(scenario)()
    assert not stuck, (
        f"a receive cancelled {stuck[0] * 1000:.1f} ms after it started went on receiving"
    )
