"""Where Drillhall's credentials live, and how a Redis URL gets its user and password.

Both ends read this: the server (settings, the command line) and every agent. Each secret is
one file, readable by its owner only, under the credentials directory
(``DRILLHALL_CREDENTIALS_DIR``, else ``/var/lib/drillhall/credentials`` for root and
``~/.local/state/drillhall/credentials`` for anyone else)::

    redis/admin.password          the Redis user "admin": set-up and the lab (ACL, CONFIG)
    redis/drillhall.password      the Redis user "drillhall": web server, orchestrators, CLI
    agents/<host>/redis.password  the Redis user "agent-<host>": that host's agent only

The default belongs to the machine, not to a checkout: Redis, with its users, outlives any
one checkout or database, so a second checkout must find the passwords the first one gave it.
It does not follow ``DRILLHALL_STATE_DIR`` either, which tests point at directories of their
own while they share the machine's Redis.

On an agent's own machine only its ``agents/<host>/`` directory is needed (``drillhall enrol``
says what to copy there). The Redis user names, and what each may do, are in
``injector.redis_acl``.

A Redis URL that names no user and no password (``redis://127.0.0.1:6379/9``, what the
Makefile, the tests and the demo use) gets them from the file of the process's user here; one
that carries them is used as it is. A missing file leaves the URL alone: a Redis without
users (a test's own server before set-up) still answers. Passwords never go to argv or to the
environment of a child, and nothing here prints one.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from injector.protocol import check_host_name

ENV = "DRILLHALL_CREDENTIALS_DIR"

ADMIN_USER = "admin"
SERVER_USER = "drillhall"
AGENT_USER_PREFIX = "agent-"
# 32 random bytes, URL-safe: no character needs quoting in a URL or an ACL rule.
PASSWORD_BYTES = 32


class CredentialError(Exception):
    """A credential file that exists but cannot be used (unreadable, empty)."""


def default_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/drillhall/credentials")
    return Path.home() / ".local" / "state" / "drillhall" / "credentials"


def credentials_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    raw = env.get(ENV, "")
    return Path(raw) if raw else default_dir()


def agent_user(host: str) -> str:
    """The Redis user of a host's agent."""
    return f"{AGENT_USER_PREFIX}{check_host_name(host)}"


def password_file(directory: Path, user: str) -> Path:
    """The file holding ``user``'s Redis password."""
    if user.startswith(AGENT_USER_PREFIX):
        host = check_host_name(user.removeprefix(AGENT_USER_PREFIX))
        return directory / "agents" / host / "redis.password"
    if user not in (ADMIN_USER, SERVER_USER):
        raise ValueError(f"no credential file is defined for the Redis user {user!r}")
    return directory / "redis" / f"{user}.password"


def read_password(path: Path) -> str | None:
    """The password in ``path``; None when there is no such file."""
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialError(f"{path}: cannot read it ({exc.strerror})") from None
    if not value:
        raise CredentialError(f"{path} is empty: delete it and run the set-up again")
    return value


def ensure_password(path: Path) -> bool:
    """Write a random password to ``path`` unless one is there; True when it wrote one."""
    return write_secret_once(path, secrets.token_urlsafe(PASSWORD_BYTES) + "\n")


def write_secret_once(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` (0600) unless a file is there; True when this call wrote it.

    A temporary file, synced, hard-linked into place: two processes at once cannot both write,
    the first writer wins, and no reader sees half a secret. Missing directories are made 0700.
    Used for Redis passwords here and agents' signing keys (``injector.signing``).
    """
    for directory in reversed([path.parent, *path.parent.parents]):
        if not directory.exists():
            directory.mkdir(mode=0o700, exist_ok=True)
    if path.exists():
        return False
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True


def has_credentials(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.username or parts.password)


def with_credentials(url: str, user: str, directory: Path | None = None) -> str:
    """``url`` with ``user`` and its password from the credentials directory filled in.

    A URL that already names a user or a password is returned as it is; so is one whose
    user has no password file (a Redis without ACL users). unix:// URLs carry their
    credentials as query parameters, which this does not write: they are returned as they are.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or has_credentials(url):
        return url
    password = read_password(password_file(directory or credentials_dir(), user))
    if password is None:
        return url
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}"
    return urlunsplit(parts._replace(netloc=netloc))


def server_redis_url(url: str, directory: Path | None = None) -> str:
    """The server's processes (web, orchestrator, CLI): the ``drillhall`` user."""
    return with_credentials(url, SERVER_USER, directory)


def agent_redis_url(url: str, host: str, directory: Path | None = None) -> str:
    """A host's agent: its own user ``agent-<host>``."""
    return with_credentials(url, agent_user(host), directory)


def admin_redis_url(url: str, directory: Path | None = None) -> str:
    """Set-up and the lab: the ``admin`` user, whatever user ``url`` names."""
    return with_credentials(without_credentials(url), ADMIN_USER, directory)


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


def redacted(url: str) -> str:
    """``url`` for people: the password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    user = quote(parts.username, safe="") if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
