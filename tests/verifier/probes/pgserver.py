"""A private PostgreSQL server for tests: initdb + postgres on loopback, run as ``postgres``.

PostgreSQL refuses to run as root, so both run through ``runuser`` in a temporary directory
owned by that user; the server is stopped through the pid in ``postmaster.pid`` (the process
we started is runuser, not the postmaster).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port, have_root, require, run

_USER = "postgres"


@dataclass
class PgServer:
    port: int
    datadir: Path
    proc: subprocess.Popen[bytes]
    netns: str = ""
    password: str | None = None  # set: connections over TCP must give it

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    @property
    def dsn_with_password(self) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    def signal(self, signum: int) -> None:
        pid_file = self.datadir / "postmaster.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text().split()[0]), signum)

    def stop(self) -> None:
        """Fast shutdown: open sessions are ended, the server exits within seconds."""
        if self.proc.poll() is not None:
            return
        self.signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=5)


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


@contextmanager
def postgres_server(
    netns: str = "", settings: dict[str, str] | None = None, password: str | None = None
) -> Iterator[PgServer]:
    """A fresh cluster on 127.0.0.1 and a free port (inside ``netns`` when given); with
    ``password``, TCP connections must give it (SCRAM), local ones are trusted."""
    bindir = _binaries()
    require(bindir is not None, "needs PostgreSQL (apt-get install postgresql)")
    require(have_root(), "needs root (to run PostgreSQL as the postgres user)")
    require(shutil.which("runuser") is not None, "needs runuser (util-linux)")
    assert bindir is not None
    user = pwd.getpwnam(_USER)
    workdir = Path(tempfile.mkdtemp(prefix="drillhall-pg-"))
    os.chown(workdir, user.pw_uid, user.pw_gid)
    datadir = workdir / "data"
    as_postgres = ["runuser", "-u", _USER, "--"]
    try:
        # Trust on loopback only, no fsync: a throwaway cluster that starts in about a second.
        auth = ["-A", "trust"]
        if password is not None:
            pwfile = workdir / "pwfile"
            pwfile.write_text(password + "\n")
            os.chown(pwfile, user.pw_uid, user.pw_gid)
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        run(
            [*as_postgres, str(bindir / "initdb"), "-D", str(datadir), *auth,
             "-U", _USER, "--no-sync", "-E", "UTF8", "--locale=C"],
            timeout=60,
        )  # fmt: skip
        port = free_port()
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(workdir),
            "fsync": "off",
            "full_page_writes": "off",
            "shared_buffers": "16MB",
            "max_connections": "20",
            **(settings or {}),
        }
        flags = [arg for key, value in options.items() for arg in ("-c", f"{key}={value}")]
        prefix = ["ip", "netns", "exec", netns] if netns else []
        proc = subprocess.Popen(
            [*prefix, *as_postgres, str(bindir / "postgres"), "-D", str(datadir), *flags],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = PgServer(port, datadir, proc, netns, password)
        try:
            _wait_ready(server, bindir)
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(server: PgServer, bindir: Path) -> None:
    prefix = ["ip", "netns", "exec", server.netns] if server.netns else []
    argv = [*prefix, str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(server.port)]
    deadline = time.monotonic() + 20
    while run(argv, check=False).returncode != 0:
        if server.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("postgres did not start")
        time.sleep(0.05)
