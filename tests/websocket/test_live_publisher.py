"""The publisher thread sends what a run's writer hands it, in order, through a real Redis
channel layer, without the writer waiting for the layer; what piles up while a send is in
flight leaves as one message, and one run's backlog does not hold up another's."""

from __future__ import annotations

import asyncio

import pytest

from drills.web.live_publisher import LivePublisher

pytestmark = pytest.mark.timeout(60)


async def receive_seqs(layer, channel: str, count: int) -> tuple[list[int], int]:  # type: ignore[no-untyped-def]
    """The seqs of ``count`` events, and how many messages carried them."""
    seqs: list[int] = []
    messages = 0
    while len(seqs) < count:
        message = await layer.receive(channel)
        assert message["type"] == "run.events"
        seqs += [event["seq"] for event in message["events"]]
        messages += 1
    return seqs, messages


def test_events_reach_the_group_in_the_order_they_were_handed_over(redis_layer) -> None:  # type: ignore[no-untyped-def]
    publisher = LivePublisher(redis_layer)

    async def scenario() -> tuple[list[int], int]:
        channel = await redis_layer.new_channel()
        await redis_layer.group_add("run-order", channel)
        futures = [publisher.send("run-order", {"seq": seq}) for seq in range(1, 301)]
        received = await receive_seqs(redis_layer, channel, 300)
        # A future is settled just after its send returns, which can be after the message
        # was received here: wait for them rather than race them.
        await asyncio.wait_for(asyncio.gather(*map(asyncio.wrap_future, futures)), 5)
        return received

    seqs, messages = asyncio.run(scenario())
    assert seqs == list(range(1, 301))
    assert messages < 300  # handed over faster than sent: batched


def test_two_runs_are_sent_to_side_by_side(redis_layer) -> None:  # type: ignore[no-untyped-def]
    publisher = LivePublisher(redis_layer)

    async def scenario() -> list[int]:
        a, b = await redis_layer.new_channel(), await redis_layer.new_channel()
        await redis_layer.group_add("run-a", a)
        await redis_layer.group_add("run-b", b)
        for seq in range(1, 51):
            publisher.send("run-a", {"seq": seq})
            publisher.send("run-b", {"seq": seq})
        got_a, _ = await receive_seqs(redis_layer, a, 50)
        got_b, _ = await receive_seqs(redis_layer, b, 50)
        assert got_a == got_b
        return got_a

    assert asyncio.run(scenario()) == list(range(1, 51))


def test_a_send_that_fails_is_dropped_and_the_next_ones_go_on(redis_layer) -> None:  # type: ignore[no-untyped-def]
    publisher = LivePublisher(redis_layer)

    async def scenario() -> list[int]:
        channel = await redis_layer.new_channel()
        await redis_layer.group_add("run-after-failure", channel)
        # A group name the layer refuses (not ASCII): that send fails, the next is sent.
        bad = publisher.send("run-\u00e9", {"seq": 1})
        publisher.send("run-after-failure", {"seq": 2})
        seqs, _ = await receive_seqs(redis_layer, channel, 1)
        assert bad.result(5) is None
        return seqs

    assert asyncio.run(scenario()) == [2]


def test_a_flush_returns_once_every_event_handed_over_has_left(redis_layer) -> None:  # type: ignore[no-untyped-def]
    # A process that stores a run's last events and exits (`drillhall run` driving its own
    # run) took them with it unsent: its live pages never heard how the run ended.
    publisher = LivePublisher(redis_layer)
    futures = [publisher.send(f"run-flush-{n % 3}", {"seq": n}) for n in range(1, 200)]
    assert publisher.flush(5.0)
    assert all(f.done() for f in futures)
