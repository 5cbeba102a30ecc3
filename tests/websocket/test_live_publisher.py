"""The publisher thread sends what a run's writer hands it, in order, through a real Redis
channel layer, without the writer waiting for the layer."""

from __future__ import annotations

import asyncio

import pytest

from drills.web.live_publisher import LivePublisher

pytestmark = pytest.mark.timeout(60)


def test_messages_reach_the_group_in_the_order_they_were_handed_over(redis_layer) -> None:  # type: ignore[no-untyped-def]
    publisher = LivePublisher(redis_layer)

    async def scenario() -> list[int]:
        channel = await redis_layer.new_channel()
        await redis_layer.group_add("run-order", channel)
        futures = [
            publisher.send("run-order", {"type": "run.event", "event": {"seq": seq}})
            for seq in range(1, 201)
        ]
        received = [(await redis_layer.receive(channel))["event"]["seq"] for _ in futures]
        assert all(f.done() for f in futures)
        return received

    assert asyncio.run(scenario()) == list(range(1, 201))


def test_a_send_that_fails_is_dropped_and_the_next_ones_go_on(redis_layer) -> None:  # type: ignore[no-untyped-def]
    publisher = LivePublisher(redis_layer)

    async def scenario() -> list[int]:
        channel = await redis_layer.new_channel()
        await redis_layer.group_add("run-after-failure", channel)
        # A group name the layer refuses (not ASCII): that send fails, the next is sent.
        bad = publisher.send("run-\u00e9", {"type": "run.event", "event": {"seq": 1}})
        publisher.send("run-after-failure", {"type": "run.event", "event": {"seq": 2}})
        message = await redis_layer.receive(channel)
        assert bad.done()
        return [message["event"]["seq"]]

    assert asyncio.run(scenario()) == [2]
