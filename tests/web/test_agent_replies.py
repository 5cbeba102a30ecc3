"""Waiting for an agent's reply through Celery's Redis result backend, on a real Redis.

The backend tells a waiting thread of a stored reply through a pub/sub message, and with many
threads waiting at once (the orchestrator's) that notice can be lost (celery/celery#3761):
the reply is in Redis, the wait runs into its timeout, and a healthy agent is reported dead.
"""

from __future__ import annotations

import threading
import time

import pytest

from drills.engine.driver import AgentUnavailable
from drills.web.agents import CeleryFaultDriver
from injector.protocol import AgentTask, PingRequest
from tests.conftest import redis_up, require
from tests.conftest import test_redis_url as redis_url_of_tests

QUEUE = "agent.nobody-listens"  # no worker consumes it: the reply is written by the test


@pytest.fixture
def driver() -> CeleryFaultDriver:
    require(redis_up(redis_url_of_tests()), "needs Redis")
    return CeleryFaultDriver()


def test_a_reply_whose_notice_was_lost_is_read_from_redis(driver: CeleryFaultDriver) -> None:
    result = driver._send(AgentTask.PING, QUEUE, PingRequest().to_json(), 10)
    backend = result.backend
    reply = {"host": "nobody-listens", "netns": None, "active": []}
    meta = {"status": "SUCCESS", "result": reply, "traceback": None, "children": [],
            "date_done": None, "task_id": result.id}  # fmt: skip
    # Stored as the backend stores a reply, while the wait is on, but its notice is never
    # published (it went to another thread).
    store = threading.Timer(
        0.3, backend.client.set, (backend.get_key_for_task(result.id), backend.encode(meta))
    )
    store.start()
    started = time.monotonic()
    assert driver._wait(result, QUEUE, 10) == reply
    assert time.monotonic() - started < 3


def test_with_no_reply_the_wait_ends_at_its_timeout_saying_so(driver: CeleryFaultDriver) -> None:
    result = driver._send(AgentTask.PING, QUEUE, PingRequest().to_json(), 2)
    started = time.monotonic()
    with pytest.raises(Exception, match="did not answer within 1.5 s"):
        driver._wait(result, QUEUE, 1.5)
    assert 1.4 <= time.monotonic() - started < 2.5


def test_a_request_the_agent_took_after_it_expired_is_said_so(driver: CeleryFaultDriver) -> None:
    result = driver._send(AgentTask.PING, QUEUE, PingRequest().to_json(), 2)
    # What a Celery worker stores when it takes a message past its expiry (Request.revoked).
    result.backend.mark_as_revoked(result.id, "expired")
    with pytest.raises(AgentUnavailable) as caught:
        driver._wait(result, QUEUE, 2)
    assert str(caught.value) == (
        "the agent of host nobody-listens took the request only after it had waited 2 s in "
        "the host's queue, and dropped it undone: the agent is running but was busy with "
        "other drills' requests for longer than that"
    )
