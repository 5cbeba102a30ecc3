"""PostgreSQL canary: sequence-numbered INSERTs whose acknowledged ones must survive a drill.

The same contract as the Redis canary (``verifier.probes.canary.Canary``): every sample is one
autocommit INSERT of ``(probe, token, seq, t)``, remembered only when the statement returned,
i.e. when the server reported the commit. ``verify`` reads the remembered rows back after
recovery; the ones that are gone are the data loss (RPO). The token is new for every canary,
so rows an earlier run left in the table never pass for this one's.

A commit that never returned (a paused server, a partition, a synchronous standby that never
confirms) is not acknowledged even though the row may exist: no client was told it was saved.

Time bounds: ``statement_timeout`` stops slow statements on the server, but it does not cover
the wait for a synchronous standby at commit, nor a server that does not answer at all, so
every statement also has a client-side deadline that shuts the socket down. Connecting is
bounded by libpq's ``connect_timeout``, which is whole seconds and at least 2.

The canary connects with what its DSN says and nothing of the orchestrator's: the DSN may name
no local file (``verifier.probes.pg_dsn``, checked again here on libpq's own reading of it), and
the password comes from the DSN or not at all. A DSN that holds a password is never in the
playbook: the playbook names it (``dsn_env``, ``secret``) and the orchestrator looks it up when
the probe is built (``verifier.probes.secret_refs``). libpq would otherwise fill a missing one from
$PGPASSWORD, ~/.pgpass or a service file and send it to whatever server the playbook named.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
import threading
import time
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from verifier.probes.canary import Ack, CanaryBase
from verifier.probes.pg_dsn import check_params
from verifier.windows import Sample

T = TypeVar("T")

TABLE = "drillhall_canary"
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    "probe text NOT NULL, token text NOT NULL, seq bigint NOT NULL, "
    "t double precision NOT NULL, PRIMARY KEY (probe, token, seq))"
)
_INSERT = f"INSERT INTO {TABLE} (probe, token, seq, t) VALUES (%s, %s, %s, %s)"
_READ = f"SELECT seq, t FROM {TABLE} WHERE probe = %s AND token = %s AND seq = ANY(%s::bigint[])"
_DEADLINE_FACTOR = 1.5  # client-side deadline, in units of the probe's timeout
_VERIFY_CHUNK = 1000  # seqs per SELECT: bounded statements and replies on long runs


class NoAnswer(TimeoutError):
    """The server did not answer within the deadline; a write's outcome is unknown."""


class _Deadline:
    """Shuts the connection's socket down if the block outlives ``seconds``.

    A blocked psycopg call then fails at once with OperationalError. The lock makes sure the
    socket is never touched once the block is over (its descriptor may be reused by then).
    """

    def __init__(self, conn: psycopg.Connection[Any], seconds: float) -> None:
        self._fd = conn.fileno()
        self._lock = threading.Lock()
        self._over = False
        self.fired = False
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def _cut(self) -> None:
        with self._lock:
            if self._over:
                return
            self.fired = True
            # A duplicate descriptor: shutdown acts on the shared socket, close only on the dup.
            with socket.socket(fileno=os.dup(self._fd)) as sock:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by the peer

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._over = True
        self._timer.cancel()


# A password file that is never there: libpq then reads none (os.devnull exists, and libpq
# would warn on every connection that it is not a plain file).
NO_PASSFILE = "/nonexistent/drillhall-canary-reads-no-password-file"


def connection_params(dsn: str, timeout: float, dsn_from: str | None = None) -> dict[str, Any]:
    """The user's DSN with the canary's time bounds added; ValueError when it does not parse
    or says what a canary may not (a local file, a socket path, no host).

    ``dsn_from`` says where a DSN that may hold a password came from (the environment
    variable SHOP_PG_DSN): its errors name that place and never quote the text, as libpq's
    message would ('missing "=" after "..."')."""
    try:
        params: dict[str, Any] = conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        if dsn_from is not None:
            raise ValueError(
                f"the DSN in {dsn_from} is not a PostgreSQL connection string (not quoted "
                "here: it may hold a password)"
            ) from None
        raise ValueError(f"the dsn is not a PostgreSQL connection string: {exc}") from None
    try:
        check_params(params)
    except ValueError as exc:
        if dsn_from is None:
            raise
        raise ValueError(f"the DSN in {dsn_from}: {exc}") from None
    # Given, even empty, libpq looks no further: not in $PGPASSWORD, a service file, ~/.pgpass.
    params.setdefault("password", "")
    params["passfile"] = NO_PASSFILE
    # Appended, not replaced: the user's own options (search_path, role) still apply.
    options = str(params.get("options") or "")
    params["options"] = f"{options} -c statement_timeout={max(1, round(timeout * 1000))}".strip()
    params["connect_timeout"] = str(max(2, math.ceil(timeout)))
    params.setdefault("application_name", "drillhall-canary")
    return params


class PostgresCanary(CanaryBase):
    def __init__(
        self,
        name: str,
        dsn: str,
        timeout: float = 1.0,
        netns: str = "",
        *,
        dsn_from: str | None = None,
    ) -> None:
        super().__init__(name, netns)
        self.timeout = timeout
        self._params = connection_params(dsn, timeout, dsn_from)
        self._token = secrets.token_hex(8)
        self._seq = 0
        self._conn: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        # No automatic prepared statements: a pooler in front of the database may hand each
        # statement to another server connection.
        return psycopg.connect(**self._params, autocommit=True, prepare_threshold=None)

    def _execute(
        self, conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] = ()
    ) -> psycopg.Cursor[Any]:
        # The client cursor has the whole result once execute() returns: fetching is local.
        # Later than statement_timeout, so a server that answers at all reports the timeout.
        seconds = self.timeout * _DEADLINE_FACTOR
        with _Deadline(conn, seconds) as deadline:
            try:
                return conn.execute(query, params)
            except psycopg.OperationalError:
                if deadline.fired:
                    raise NoAnswer(f"no answer from the server within {seconds:g}s") from None
                raise

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        conn = self._connect()
        try:
            # On every new connection: after a failover the new primary may lack the table.
            self._execute(conn, CREATE_TABLE)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _drop(self) -> None:
        # One attempt per sample: a broken connection is replaced at the next sample only.
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def sample(self) -> Sample:
        self._seq += 1
        seq = self._seq
        t = time.time()
        start = time.monotonic()
        acknowledged = False
        error: str | None = None
        try:
            conn = self._connection()
            cursor = self._execute(conn, _INSERT, (self.name, self._token, seq, t))
            acknowledged = cursor.rowcount == 1
            if not acknowledged:
                error = "the write was not acknowledged"
        except NoAnswer as exc:
            self._drop()
            error = f"{exc}; the commit did not return"
        except psycopg.Error as exc:
            self._drop()
            # libpq's messages span lines ("Is the server running..."): one line in a sample.
            error = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        return self._sample(seq, t, start, acknowledged, error)

    def verify(self, after_seconds: float = 0.0) -> list[Ack]:
        """Acknowledged writes made after ``after_seconds`` (sample clock) that cannot be read
        back now, oldest first. Raises (psycopg.Error, NoAnswer) when the table cannot be read,
        because "cannot tell" must not count as "nothing lost"."""
        wanted = [ack for ack in self.acknowledged() if ack.t > after_seconds]
        if not wanted:
            return []
        return self._in_namespace(lambda: self._missing(wanted))

    def _missing(self, wanted: list[Ack]) -> list[Ack]:
        # A connection of its own: the sampling one may be closed, or from before a failover.
        missing: list[Ack] = []
        with self._connect() as conn:
            for first in range(0, len(wanted), _VERIFY_CHUNK):
                chunk = wanted[first : first + _VERIFY_CHUNK]
                seqs = [ack.seq for ack in chunk]
                rows = self._execute(conn, _READ, (self.name, self._token, seqs)).fetchall()
                found = {int(seq): float(t) for seq, t in rows}
                missing.extend(ack for ack in chunk if found.get(ack.seq) != ack.t)
        return missing

    def close(self) -> None:
        self._drop()
