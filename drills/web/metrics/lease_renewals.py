"""How the orchestrators' fault-lease renewals went, per host, counted in Redis.

A renewal travels from an orchestrator worker to an agent and back without touching the
database, so the counts are kept where every orchestrator and every web process reaches them:
one Redis hash, ``drillhall:metrics:lease-renewals``, with a field per host and result. The
orchestrator counts each renewal when it sends it and again when it reads the answer
(``drills.web.agents``); /metrics reads the hash at scrape time. They only grow, unless Redis
loses them (Prometheus reads that as a counter reset). Counting never gets in a run's way: a
count Redis does not take is lost, nothing more.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis
from django.conf import settings

log = logging.getLogger(__name__)

KEY = "drillhall:metrics:lease-renewals"


class Outcome(StrEnum):
    """What became of one renewal. ``sent`` is counted apart: every renewal sent ends in one
    of the others, or in none when no answer came in time (its lease then says so)."""

    SENT = "sent"
    RENEWED = "renewed"  # the agent extended the lease
    NOT_RENEWED = "not_renewed"  # the agent says the fault already ended (reverted, halted, …)
    REFUSED = "refused"  # the agent's gate refused the request
    FAILED = "failed"  # the task failed on the agent, or its answer was unreadable
    NOT_SENT = "not_sent"  # the broker did not take it


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def client() -> redis.Redis:
    """This process's client of the server's Redis for metrics: short timeouts, so neither a
    renewal nor a scrape waits long on a Redis that does not answer."""
    return _client(settings.REDIS_URL)


def count(host: str, outcome: Outcome) -> None:
    try:
        client().hincrby(KEY, f"{host}|{outcome.value}", 1)
    except redis.RedisError as exc:
        log.debug("lease renewal of %s not counted: %s", host, exc)


@dataclass(frozen=True)
class RenewalCount:
    host: str
    outcome: Outcome
    n: int


def counts(redis_client: Any | None = None) -> list[RenewalCount]:
    """Every count so far, by host and outcome; fields that are not ours are skipped."""
    raw = (redis_client or client()).hgetall(KEY)
    out = []
    for field, value in raw.items():
        text = field.decode(errors="replace") if isinstance(field, bytes) else str(field)
        host, _, name = text.rpartition("|")
        try:
            out.append(RenewalCount(host, Outcome(name), int(value)))
        except ValueError:
            continue
    return sorted(out, key=lambda c: (c.host, c.outcome.value))
