"""Failed logins, and logins refused for too many failures, logged as they happen.

Django sends user_login_failed for every failed authenticate() (a wrong password, or one that
django-axes refused); axes sends user_locked_out when it refuses. django-axes logs them too, but
masks the username and the address, which are what someone reading the log needs. An audit log
in the database will listen to the same signals.
"""

from __future__ import annotations

import logging
from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

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
    log.warning(
        "failed login for username %r from %s",
        str(credentials.get("username", ""))[:150],
        client_address(request),
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
