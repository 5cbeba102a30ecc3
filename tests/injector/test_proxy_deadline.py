"""injector/proxy/deadline.py: the latency proxy's held chunks never leave before they are
due, with the timerfd and without it."""

from __future__ import annotations

import asyncio

from injector.proxy.deadline import Deadline


async def waits(deadline: Deadline, count: int) -> list[float]:
    loop = asyncio.get_running_loop()
    early = []
    for i in range(count):
        due = loop.time() + 0.002 + 0.0007 * i
        await deadline.wait_until(due)
        early.append(due - loop.time())
    return early


def test_a_wait_never_ends_before_its_deadline() -> None:
    deadline = Deadline()
    try:
        assert deadline.fd >= 0  # Linux: the timerfd is used
        assert max(asyncio.run(waits(deadline, 20))) <= 0
        # Again on the same timer: an expiry left unread would wake the next wait at once.
        assert max(asyncio.run(waits(deadline, 3))) <= 0
    finally:
        deadline.close()
    assert deadline.fd == -1


def test_without_a_timerfd_it_waits_with_asyncio() -> None:
    deadline = Deadline()
    deadline.close()  # as where timerfd_create is missing
    assert max(asyncio.run(waits(deadline, 5))) <= 0


def test_a_deadline_already_past_returns_at_once() -> None:
    async def past() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = Deadline()
        try:
            await deadline.wait_until(started - 1.0)
        finally:
            deadline.close()
        return loop.time() - started

    assert asyncio.run(past()) < 0.05
