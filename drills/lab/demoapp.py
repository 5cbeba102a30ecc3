"""The lab's demo web service: a checkout that must write to and read from Redis.

GET /checkout   INCR orders:seq, SET order:<n> <timestamp>, read it back:
                200 {"order": n}, or 503 {"error": "..."} when Redis fails.
GET /healthz    200 {"ok": true} whatever Redis does (the process is alive).

Redis timeouts are 0.5 s and retries are off, so a partition shows as quick 503s rather
than hanging requests: probes measure the fault, not a client's retry policy.

With --sentinel (repeatable) and --master, a failed request asks the Sentinels where the
master is now (at most every REDISCOVER_S) and switches to it, so a Sentinel failover
restores checkout: the answer with the newest config epoch wins.

    python -m drills.lab.demoapp --listen 10.77.0.2:8080 --redis 10.77.0.3:6379 \
        --sentinel 10.77.0.2:26379 --sentinel 10.77.0.4:26379 --master shop
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from drills.lab.httpservice import JsonHandler, Server, serve, split_hostport

REDIS_TIMEOUT_S = 0.3  # room for a 150 ms latency drill, yet a quick failover
SENTINEL_TIMEOUT_S = 0.2
REDISCOVER_S = 0.25


def make_redis(host: str, port: int, timeout: float = REDIS_TIMEOUT_S) -> redis.Redis:
    return redis.Redis(
        host=host,
        port=port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # redis-py retries 10 times with backoff by default: one attempt, fail fast.
        retry=Retry(NoBackoff(), 0),
    )


def checkout(client: redis.Redis) -> int:
    """Record one order and read it back; raises on any Redis failure."""
    n = int(client.incr("orders:seq"))
    key = f"order:{n}"
    client.set(key, f"{time.time():.6f}")
    if client.get(key) is None:
        raise RuntimeError(f"{key} was acknowledged but cannot be read back")
    return n


class RedisRouter:
    """The Redis client of the moment, re-pointed at the master the Sentinels name."""

    def __init__(
        self, address: tuple[str, int], sentinels: list[tuple[str, int]], master: str
    ) -> None:
        self.address = address
        self.sentinels = sentinels
        self.master = master
        self._client = make_redis(*address)
        self._lock = threading.Lock()
        self._last_lookup = 0.0

    @property
    def client(self) -> redis.Redis:
        return self._client

    def ask_sentinels(self) -> tuple[str, int] | None:
        """The master named with the newest config epoch. Sentinels are asked side by side:
        one cut off from its peers, or not yet told of a failover, still names the old master,
        and asking in turn would wait on the unreachable ones."""
        with ThreadPoolExecutor(max_workers=len(self.sentinels)) as pool:
            answers = [a for a in pool.map(self._ask, self.sentinels) if a is not None]
        if not answers:
            return None
        _, ip, port = max(answers)
        return ip, port

    def _ask(self, sentinel_address: tuple[str, int]) -> tuple[int, str, int] | None:
        sentinel = make_redis(*sentinel_address, SENTINEL_TIMEOUT_S)
        try:
            state = sentinel.sentinel_master(self.master)
        except redis.RedisError:
            return None
        finally:
            sentinel.close()
        if not isinstance(state, dict):  # redis-py types the reply loosely
            return None
        return int(state.get("config-epoch", 0)), str(state["ip"]), int(state["port"])

    def rediscover(self) -> bool:
        """After a failure: switch to the master the Sentinels name; True when it changed."""
        if not self.sentinels:
            return False
        with self._lock:
            now = time.monotonic()
            if now - self._last_lookup < REDISCOVER_S:
                return False
            self._last_lookup = now
            found = self.ask_sentinels()
            if found is None or found == self.address:
                return False
            old, self._client, self.address = self._client, make_redis(*found), found
            old.close()
            print(f"demoapp: Redis master is now {found[0]}:{found[1]}", flush=True)
            return True


class DemoHandler(JsonHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._reply(200, {"ok": True})
        elif path == "/checkout":
            router = self.server.router
            try:
                self._reply(200, {"order": checkout(router.client)})
                return
            except Exception as exc:  # any Redis failure is the fault we want to show
                error = exc
            # A failover may have moved the master: one retry on the new one, then give up.
            if router.rediscover():
                try:
                    self._reply(200, {"order": checkout(router.client)})
                    return
                except Exception as exc:
                    error = exc
            self._reply(503, {"error": f"{type(error).__name__}: {error}"})
        else:
            self._reply(404, {"error": f"no route {path}"})


class DemoServer(Server):
    def __init__(self, listen: tuple[str, int], router: RedisRouter) -> None:
        self.router = router
        super().__init__(listen, DemoHandler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drills.lab.demoapp", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=split_hostport, required=True, help="HOST:PORT")
    parser.add_argument("--redis", type=split_hostport, required=True, help="HOST:PORT")
    parser.add_argument(
        "--sentinel", type=split_hostport, action="append", default=[], help="HOST:PORT"
    )
    parser.add_argument("--master", default="shop", help="the master name Sentinels watch")
    args = parser.parse_args(argv)

    server = DemoServer(args.listen, RedisRouter(args.redis, args.sentinel, args.master))
    host, port = args.listen
    return serve(
        server, f"demoapp listening on {host}:{port}, redis {args.redis[0]}:{args.redis[1]}"
    )


if __name__ == "__main__":
    sys.exit(main())
