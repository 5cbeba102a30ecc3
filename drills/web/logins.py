"""Failed logins, and logins refused for too many failures, logged as they happen.

Django sends user_login_failed for every failed authenticate() (a wrong password, or one that
django-axes refused); axes sends user_locked_out when it refuses. django-axes logs them too, but
masks the username and the address, which are what someone reading the log needs.

Each failed login (a refused one too: axes makes authenticate() fail, which sends the same
signal) is also one entry in the audit log, naming the username typed and the address.
"""

from __future__ import annotations

import logging
from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from drills.web.audit import AuditAction, record, request_source

log = logging.getLogger("drillhall.logins")


def client_address(request: HttpRequest | None) -> str:
    # REMOTE_ADDR only, as the rate limit counts (AXES_IPWARE_META_PRECEDENCE_ORDER).
    if request is None:
        return "an unknown address"
    return str(request.META.get("REMOTE_ADDR") or "an unknown address")


@receiver(user_login_failed)
def log_failed_login(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # %r: a username is whatever the client typed, and repr keeps a newline in it from
    # forging a log line.
    username = str(credentials.get("username", ""))[:150]
    log.warning("failed login for username %r from %s", username, client_address(request))
    refused = bool(getattr(request, "axes_locked_out", False))
    record(
        AuditAction.LOGIN_FAILED,
        actor="",  # nobody proved who they are; the username typed is the object
        source=request_source(request),
        object_type="user",
        object_id=username,
        summary=(
            f"refused a login as “{username}”: too many failed logins"
            if refused
            else f"failed login as “{username}”"
        ),
        content=username,
    )


@receiver(user_locked_out)
def log_refused_login(
    sender: object,
    request: HttpRequest | None = None,
    username: str | None = None,
    **kwargs: Any,
) -> None:
    log.warning(
        "login refused for username %r from %s: %d or more failed logins for that username or "
        "from that address; refused until %d minutes pass without another",
        str(username or "")[:150],
        client_address(request),
        settings.AXES_FAILURE_LIMIT,
        settings.AXES_COOLOFF_TIME.total_seconds() // 60,
    )
