"""Canary probes: sequence-numbered writes whose acknowledged ones must survive a drill.

Every sample writes ``key_prefix + seq`` and remembers the write only when the store confirmed
it; ``verify`` later reads every remembered write back, and the ones that are gone are the data
loss (the RPO building block). The value holds a per-probe token, so a key left by an earlier
run with the same prefix never passes for one of ours.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel

from ebpf.netns import run_in_netns
from verifier.windows import Sample

T = TypeVar("T")

_VERIFY_CHUNK = 500  # keys per MGET: bounded replies on long runs
# ':'-separated words ending in ':': every canary key (prefix + a number) then ends in ":<n>",
# so a playbook cannot aim the canary's SET at a key of another shape in a Redis it shares,
# such as Drillhall's own broker (the Celery queue "agent.db1" is a list a SET would replace).
KEY_PREFIX_PATTERN = r"[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)*:"
KEY_PREFIX_MAX = 100


@dataclass(frozen=True)
class Ack:
    """A write the store acknowledged: its sequence number and the time it was written."""

    seq: int
    t: float


@runtime_checkable
class Canary(Protocol):
    """What the runner needs of any canary (Redis, PostgreSQL) to measure RPO."""

    name: str

    def acknowledged(self) -> list[Ack]:
        """Every write the store acknowledged so far, oldest first."""
        ...

    def verify(self, after_seconds: float = 0.0) -> list[Ack]:
        """Acknowledged writes that cannot be read back now; raises when the store cannot
        be read, because "cannot tell" must not count as "nothing lost"."""
        ...


class CanaryUnavailable(RuntimeError):
    """The canary cannot run here (e.g. the PostgreSQL driver is not installed)."""


def is_key_prefix(text: str) -> bool:
    return len(text) <= KEY_PREFIX_MAX and re.fullmatch(KEY_PREFIX_PATTERN, text) is not None


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` into its parts."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


class CanaryBase:
    """What every canary shares: the log of acknowledged writes, its samples, its namespace."""

    def __init__(self, name: str, netns: str = "") -> None:
        self.name = name
        self.netns = netns
        self._acked: list[Ack] = []
        self._lock = threading.Lock()  # the probe thread appends while verify() may read

    def acknowledged(self) -> list[Ack]:
        with self._lock:
            return list(self._acked)

    def _last_ack(self) -> Ack | None:
        with self._lock:
            return self._acked[-1] if self._acked else None

    def _sample(
        self, seq: int, t: float, started: float, acknowledged: bool, error: str | None
    ) -> Sample:
        """The sample of one write attempt begun at ``started`` (monotonic clock)."""
        if acknowledged:
            with self._lock:
                self._acked.append(Ack(seq, t))
        return Sample(
            t=t,
            probe=self.name,
            ok=acknowledged,
            latency_ms=round((time.monotonic() - started) * 1000.0, 3),
            error=error,
            seq=seq if acknowledged else None,
        )

    def _in_namespace(self, func: Callable[[], T]) -> T:
        # New connections must come from the probe's host too, whatever thread calls.
        if not self.netns:
            return func()
        return run_in_netns(self.netns, func)


def _connection_options(timeout: float) -> dict[str, Any]:
    # No retries: one sample is one attempt, or a failover would hide behind reconnects.
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }


def _address(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


class RedisCanary(CanaryBase):
    """Writes to ``address``, or (with ``sentinel`` and ``master``) to the master the Sentinels
    name, as a Sentinel-aware application does: after a failover its writes follow the new
    master, and verify() reads back from whichever master the Sentinels name then."""

    def __init__(
        self,
        name: str,
        address: str | None,
        key_prefix: str = "drillhall:canary:",
        timeout: float = 1.0,
        netns: str = "",
        ttl_seconds: int = 86400,
        *,
        sentinel: list[str] | None = None,
        master: str | None = None,
    ) -> None:
        super().__init__(name, netns)
        if not is_key_prefix(key_prefix):
            # The playbook model refuses it too; a plan built by other means must not pass.
            raise ValueError(f"{key_prefix!r} is not a canary key prefix like drill:orders:")
        self.key_prefix = key_prefix
        self.ttl_seconds = ttl_seconds  # keys outlive any drill yet do not pile up forever
        options = self._options = _connection_options(timeout)
        self._master = master or ""
        if sentinel:
            if not master:
                raise ValueError("a Sentinel canary needs the master name")
            # redis-py's Sentinel client asks the Sentinels for the master on every new
            # connection, and drops the connection when the master turns read-only (demoted).
            self._sentinel: Sentinel | None = Sentinel(
                [split_address(a) for a in sentinel], sentinel_kwargs=dict(options), **options
            )
            self._client = self._sentinel.master_for(master, decode_responses=True)
        elif address:
            self._sentinel = None
            host, port = split_address(address)
            self._client = redis.Redis(host=host, port=port, decode_responses=True, **options)
        else:
            raise ValueError("a Redis canary needs an address or Sentinels")
        self._token = secrets.token_hex(4)
        self._seq = 0
        self.read_misses: list[int] = []  # previous writes not readable at the next sample

    def key(self, seq: int) -> str:
        return f"{self.key_prefix}{seq}"

    def _value(self, ack: Ack) -> str:
        return f"{self._token}:{ack.t!r}"

    def sample(self) -> Sample:
        self._seq += 1
        seq = self._seq
        t = time.time()
        previous = self._last_ack()
        start = time.monotonic()
        acknowledged = False
        error: str | None = None
        try:
            acknowledged = (
                self._client.set(self.key(seq), self._value(Ack(seq, t)), ex=self.ttl_seconds)
                is True
            )
            if not acknowledged:
                error = "the write was not acknowledged"
        except redis.RedisError as exc:
            error = self._sentence(exc)
        sample = self._sample(seq, t, start, acknowledged, error)
        if acknowledged and previous is not None:
            self._read_back(previous)
        return sample

    def _sentence(self, exc: redis.RedisError) -> str:
        """What went wrong, for people: redis-py's Sentinel errors carry the repr of every
        client they tried (pools, retry objects, addresses of memory), never shown."""
        if isinstance(exc, MasterNotFoundError) and self._sentinel is not None:
            asked = ", ".join(_address(c) for c in self._sentinel.sentinels)
            return f"no Sentinel named a master for {self._master} that answers (asked {asked})"
        text = str(exc)
        if "<redis." in text:  # some other error quoting a client: keep only its own words
            text = text.split("<redis.", 1)[0].rstrip(" :-,(")
        return f"{type(exc).__name__}: {text}"[:200]

    def _read_back(self, ack: Ack) -> None:
        # Live sign of loss; the count that matters comes from verify() after recovery.
        try:
            if self._client.get(self.key(ack.seq)) != self._value(ack):
                self.read_misses.append(ack.seq)
        except redis.RedisError:
            pass  # the next write fails too and shows in the samples

    def verify(self, after_seconds: float = 0.0) -> list[Ack]:
        """Acknowledged writes made after ``after_seconds`` (sample clock) that are not
        readable now, oldest first. Raises redis.RedisError when the store cannot be read,
        because "cannot tell" must not count as "nothing lost"."""
        wanted = [ack for ack in self.acknowledged() if ack.t > after_seconds]
        return self._in_namespace(lambda: self._missing(wanted))

    def _reader(self) -> redis.Redis:
        if self._sentinel is None:
            return self._client
        # Not the writer's connection: that may still be open to a demoted master which has
        # not been told yet. What survives is what the master the Sentinels name holds now,
        # by the newest config epoch (a Sentinel that was cut off may still name the old one).
        named: list[tuple[int, str, int]] = []
        for sentinel in self._sentinel.sentinels:
            try:
                state = sentinel.sentinel_master(self._master)
            except redis.RedisError:
                continue
            named.append((int(state.get("config-epoch", 0)), str(state["ip"]), int(state["port"])))
        if not named:
            raise redis.ConnectionError(f"no Sentinel named a master for {self._master!r}")
        _, host, port = max(named)
        return redis.Redis(host=host, port=port, decode_responses=True, **self._options)

    def _missing(self, wanted: list[Ack]) -> list[Ack]:
        missing: list[Ack] = []
        if not wanted:
            return missing
        reader = self._reader()
        try:
            for first in range(0, len(wanted), _VERIFY_CHUNK):
                chunk = wanted[first : first + _VERIFY_CHUNK]
                missing.extend(self._missing_in(reader, chunk))
        finally:
            if reader is not self._client:
                reader.close()
        return missing

    def _missing_in(self, reader: redis.Redis, chunk: list[Ack]) -> list[Ack]:
        values: list[Any] = reader.mget([self.key(ack.seq) for ack in chunk])
        return [ack for ack, value in zip(chunk, values, strict=True) if value != self._value(ack)]

    def close(self) -> None:
        self._client.close()
        if self._sentinel is not None:
            for client in self._sentinel.sentinels:
                client.close()
