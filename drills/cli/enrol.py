"""`drillhall enrol HOST [--protected]`: let a new host's agent in, and say what it needs.

Enrolment gives the host two things, one file each under the credentials directory
(``DRILLHALL_CREDENTIALS_DIR``, ``agents/<host>/``):
- its signing key: the orchestrator signs every request for the host with it
  (``injector.signing``) and the agent refuses anything signed with another;
- its Redis user ``agent-<host>`` (its rules: ``injector.redis_acl``) with a password of its
  own, made as the Redis user ``admin`` (whose password the set-up wrote there: enrolling takes
  whoever may read it, root on a server).

Running it again changes nothing and says so; the key and the password are never printed, only
where they are. What it prints is what the agent on that host needs: the files to copy there,
and the environment of ``drillhall agent``. ``--protected`` adds the agent's own setting that
makes it refuse faults from runs without a recorded approval; the inventory's flag (the
server's view) is set on the admin pages.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import redis

from injector.credentials import (
    ADMIN_USER,
    admin_redis_url,
    agent_user,
    password_file,
    redacted,
    without_credentials,
)
from injector.protocol import ProtocolError, agent_queue, check_host_name
from injector.redis_acl import ensure_agent
from injector.signing import agent_key_path, ensure_agent_key

Say = Callable[[str], None]
# Where the credentials go on the agent's own machine (a suggestion, printed as such).
AGENT_CREDENTIALS_DIR = "/etc/drillhall/credentials"


class EnrolError(Exception):
    """Enrolment cannot be done; the message says why and what to do."""


def enrol(host: str, protected: bool, directory: Path, redis_url: str, say: Say) -> Path:
    """Make what ``host``'s agent needs (or find it made); the key file's path."""
    try:
        host = check_host_name(host)
    except ProtocolError as exc:
        raise EnrolError(str(exc)) from None
    if not password_file(directory, ADMIN_USER).is_file():
        raise EnrolError(
            f"no password of the Redis user {ADMIN_USER} in {directory}: run make setup first "
            "(or point DRILLHALL_CREDENTIALS_DIR at the set-up's directory)"
        )
    key_existed = agent_key_path(directory, host).exists()
    try:
        key = ensure_agent_key(directory, host)
    except (OSError, ValueError) as exc:
        raise EnrolError(f"the key of {host} could not be made in {directory}: {exc}") from None
    plain = without_credentials(redis_url)
    client = redis.Redis.from_url(
        admin_redis_url(plain, directory), socket_timeout=5, socket_connect_timeout=5
    )
    try:
        made = ensure_agent(client, directory, host)
    except redis.RedisError as exc:
        raise EnrolError(f"Redis at {redacted(plain)} did not take the new user: {exc}") from None
    finally:
        client.close()

    user = agent_user(host)
    secret = password_file(directory, user)
    say(
        f"{host} is enrolled: its agent reaches Redis as the Redis user {user}, which may touch "
        f"its own queue {agent_queue(host)} and its own keys only, and takes only requests "
        "signed with its own key."
    )
    say(
        f"Its password is in {secret} ({'made just now' if made else 'already there'}; "
        "it is not shown)."
    )
    say(f"Its key is in {key} ({'already there' if key_existed else 'made just now'}; not shown).")
    parts = urlsplit(plain)
    url = f"redis://REDIS-ADDRESS:{parts.port or 6379}{parts.path or '/0'}"
    there = f"{AGENT_CREDENTIALS_DIR}/{secret.parent.relative_to(directory)}"
    say(
        f"On {host}, copy both files to {there}/ (mode 0600, owned by the user the agent runs "
        "as), and start the agent with this environment:"
    )
    say(f"  DRILLHALL_CREDENTIALS_DIR={AGENT_CREDENTIALS_DIR}")
    say(f"  DRILLHALL_AGENT_KEY_FILE={there}/{key.name}")
    say(f"  REDIS_URL={url}")
    say(f"  drillhall agent --host {host}")
    say(
        f"REDIS-ADDRESS is this Redis's address as {host} reaches it (Redis must listen there; "
        "use rediss:// where the way crosses a network you do not trust). The URL names no "
        "user and no password: the agent adds its own from that file."
    )
    if protected:
        say(
            f"{host} is protected: also set DRILLHALL_AGENT_PROTECTED=true in its agent's "
            "environment, so that the agent itself refuses faults of runs without a recorded "
            "approval. Mark the host protected in the inventory too (admin pages, Hosts)."
        )
    return key


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("host", help="the host's name, as its agent's --host gives it")
    parser.add_argument(
        "--protected",
        action="store_true",
        help="faults on this host need an approval: say how its agent is told so",
    )


def cmd_enrol(args: argparse.Namespace, say: Say) -> int:
    from django.conf import settings

    from drillhall.env import env_str

    redis_url = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        enrol(args.host, args.protected, Path(settings.DRILLHALL_CREDENTIALS_DIR), redis_url, say)
    except EnrolError as exc:
        print(f"drillhall enrol: {exc}", file=sys.stderr)
        return 2
    return 0
