"""A PostgreSQL canary sends the server a playbook names nothing of the orchestrator's.

The server here speaks just enough of the protocol to ask for a cleartext password and
record what comes back, so the test sees exactly what a hostile server would get.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from verifier.probes.pgcanary import PostgresCanary, connection_params

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
AUTH_CLEARTEXT = 3


class PasswordTrap:
    """Asks every client for its password in clear text and keeps what it is sent."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.passwords: list[bytes] = []
        self.startups = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self._session(conn)
                except (OSError, struct.error):
                    pass  # the client hung up: it had nothing to send

    def _session(self, conn: socket.socket) -> None:
        while True:
            length, code = struct.unpack("!ii", _read(conn, 8))
            _read(conn, length - 8)
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                conn.sendall(b"N")  # no TLS, no GSS: the startup packet follows in clear
                continue
            break
        self.startups += 1
        conn.sendall(b"R" + struct.pack("!ii", 8, AUTH_CLEARTEXT))
        kind = _read(conn, 1)
        (length,) = struct.unpack("!i", _read(conn, 4))
        body = _read(conn, length - 4)
        if kind == b"p":
            self.passwords.append(body.rstrip(b"\0"))

    def close(self) -> None:
        self.sock.close()


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


@contextmanager
def password_trap() -> Iterator[PasswordTrap]:
    trap = PasswordTrap()
    try:
        yield trap
    finally:
        trap.close()


@pytest.fixture
def orchestrator_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Passwords the orchestrator's environment holds, as an operator might have set them."""
    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:*:from-the-passfile\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    monkeypatch.setenv("PGPASSWORD", "from-the-environment")


@pytest.mark.usefixtures("orchestrator_secrets")
def test_a_plain_libpq_client_would_hand_over_the_orchestrators_password() -> None:
    # The control: without the canary's care, libpq fills the password from the environment.
    with password_trap() as trap:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(f"host=127.0.0.1 port={trap.port} user=x connect_timeout=3")
    assert trap.passwords == [b"from-the-environment"]


@pytest.mark.usefixtures("orchestrator_secrets", "monkeypatch")
def test_the_canary_sends_no_password_it_was_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    with password_trap() as trap:
        canary = PostgresCanary("orders", f"host=127.0.0.1 port={trap.port} user=x", timeout=1)
        sample = canary.sample()
        monkeypatch.delenv("PGPASSWORD")  # the password file alone is not read either
        again = canary.sample()
        canary.close()
    assert trap.startups == 2, "the canary did reach the server"
    assert trap.passwords == []
    for failed in (sample, again):
        assert not failed.ok and "no password supplied" in (failed.error or "")


@pytest.mark.usefixtures("orchestrator_secrets")
def test_the_canary_sends_the_password_its_dsn_gives() -> None:
    with password_trap() as trap:
        canary = PostgresCanary("orders", f"host=127.0.0.1 port={trap.port} password=dsn-pw", 1)
        canary.sample()
        canary.close()
    assert trap.passwords == [b"dsn-pw"]


@pytest.mark.parametrize(
    "dsn",
    [
        "host=db1 sslkeylogfile=/etc/cron.d/x",
        "postgresql://db1/shop?passfile=/root/.pgpass",
        "postgresql://%2Fvar%2Frun%2Fpostgresql/shop",
        "dbname=shop",
    ],
)
def test_a_dsn_the_model_refuses_is_refused_by_the_canary_too(dsn: str) -> None:
    # A plan stored with a run, or built by other means, meets the same rules before connecting.
    with pytest.raises(ValueError):
        connection_params(dsn, 1.0)
