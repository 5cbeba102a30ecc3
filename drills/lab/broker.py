"""The lab's way to the broker: its agents reach Redis as remote agents would, over the network.

Each lab agent runs inside its host's network namespace (``drills.cli.workers.agent_argv``),
where 127.0.0.1 is the namespace's own loopback: Redis is only reachable at the bridge's
address in the root namespace. So while the lab is up Redis listens there too (``CONFIG SET
bind``, done as the Redis user ``admin``), and ``lab down`` takes the address out again. The
agents connect as their own Redis users (``injector.redis_acl``), which the lab makes for its
hosts as enrolment would.

Adding and removing the one address, rather than saving and restoring the whole setting,
keeps a ``down`` after a crash, or from another process, right.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from drills.lab.lab_error import LabError
from injector.redis_acl import config_value

LOOPBACK_NAMES = {"localhost"}


def lab_broker_url(url: str, bridge_address: str) -> str:
    """The broker URL a lab agent uses: ``url``'s port and database at the bridge's address,
    with no user or password (the agent adds its own)."""
    parts = urlsplit(url)
    if parts.scheme != "redis":
        raise LabError(
            f"the lab's agents reach Redis over TCP through the bridge, but REDIS_URL is a "
            f"{parts.scheme}:// URL; use redis://127.0.0.1:PORT/DB"
        )
    if not _is_loopback(parts.hostname or ""):
        raise LabError(
            f"the lab's agents reach Redis through the bridge {bridge_address}, so Redis must "
            f"run on this machine; REDIS_URL names {parts.hostname}"
        )
    port = parts.port or 6379
    return urlunsplit(parts._replace(netloc=f"{bridge_address}:{port}"))


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_addresses(client: Any) -> list[str]:
    return config_value(client, "bind").split()


def listen_on(client: Any, address: str) -> bool:
    """Make Redis listen on ``address`` as well; True when it did not already.

    An optional ``-address`` (a Redis started before the lab, told to bind the bridge only if
    it exists) may not be bound at all: it is set again, plainly, which makes Redis bind it
    now or say why not.
    """
    current = bind_addresses(client)
    if address in current:
        return False
    kept = [a for a in current if a != f"-{address}"]
    client.execute_command("CONFIG", "SET", "bind", " ".join([*kept, address]))
    return True


def stop_listening_on(client: Any, address: str) -> bool:
    """Take ``address`` out of what Redis listens on; True when it was there."""
    current = bind_addresses(client)
    kept = [a for a in current if a not in (address, f"-{address}")]
    if kept == current:
        return False
    if not kept:
        kept = ["127.0.0.1"]  # never leave Redis listening everywhere (an empty bind does)
    client.execute_command("CONFIG", "SET", "bind", " ".join(kept))
    return True
