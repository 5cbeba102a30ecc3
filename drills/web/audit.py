"""Write the audit log: one entry per mutation (see drills.web.models.audit_entries).

Callers say what happened; this module finds the actor's name, the source address and the
content hash, so every entry is filled the same way.

The entry is written once, by the code that makes the change (``Playbook.save_version``,
``run_control``, ``hosts``, the admin): the caller that knows who acted passes an ``Origin``
down, so a view that calls ``run_control`` cannot write a second entry for the same change.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from drills.web.models.audit_entries import AuditAction, AuditEntry

__all__ = ["SYSTEM", "AuditAction", "Origin", "cli_origin", "record", "request_source"]


@dataclass(frozen=True)
class Origin:
    """Who made a change and from where: a user or a name ("system", "root"), and the
    client's address, "cli", "agent <host>" or "system"."""

    actor: Any
    source: str

    @classmethod
    def of(cls, request: HttpRequest) -> Origin:
        return cls(getattr(request, "user", None), request_source(request))


# The lab and the demo acting on their own (registering lab hosts, loading the examples).
SYSTEM = Origin("system", "system")


def cli_origin() -> Origin:
    """The command line: the operating-system user who ran it (no Django login there)."""
    try:
        name = getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (a bare container)
        name = "an unknown local user"
    return Origin(name, "cli")


def request_source(request: HttpRequest | None) -> str:
    """The client's address as the server saw it (the rate limit counts the same one)."""
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR") or "")[:100]


def content_hash(content: Any) -> str:
    if content is None or content == "":
        return ""
    if isinstance(content, bytes):
        data = content
    elif isinstance(content, str):
        data = content.encode()
    else:
        data = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(data).hexdigest()


def record(
    action: AuditAction,
    *,
    actor: Any = None,
    source: str | HttpRequest | None = "",
    object_type: str = "",
    object_id: str | int = "",
    summary: str = "",
    content: Any = None,
) -> AuditEntry:
    """Append one entry. ``actor`` is a user, a name, or None; ``source`` a request or text."""
    if isinstance(actor, str):
        actor_id, actor_name = None, actor
    elif actor is not None and getattr(actor, "is_authenticated", False):
        actor_id, actor_name = actor.pk, actor.get_username()
    else:
        actor_id, actor_name = None, ""
    if isinstance(source, HttpRequest):
        source = request_source(source)
    return AuditEntry.objects.create(
        action=action,
        actor_id=actor_id,
        actor_name=actor_name[:150],
        source=(source or "")[:100],
        object_type=object_type[:32],
        object_id=str(object_id)[:100],
        summary=summary[:300],
        content_hash=content_hash(content),
    )


def record_as(
    action: AuditAction,
    origin: Origin,
    *,
    object_type: str = "",
    object_id: str | int = "",
    summary: str = "",
    content: Any = None,
) -> AuditEntry:
    """``record`` with the actor and source of ``origin``."""
    return record(
        action,
        actor=origin.actor,
        source=origin.source,
        object_type=object_type,
        object_id=object_id,
        summary=summary,
        content=content,
    )
