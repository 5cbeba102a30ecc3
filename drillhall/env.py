"""Strict parsing of settings from the environment.

A bad value is an error at start, not a silent default (healthchecks does the same).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


class SettingError(ImproperlyConfigured):
    """A setting that is missing, unreadable or malformed: Django's own error for bad settings,
    so that manage.py, daphne and Celery all stop on it with the sentence."""


def env_optional(name: str) -> str | None:
    """NAME, or the contents of the file NAME_FILE names; None when neither is set (or NAME is "").

    NAME_FILE lets secrets come from a file (Docker and Kubernetes secret mounts) instead of the
    environment, which `ps e` and /proc/PID/environ show. Setting both is an error rather than a
    silent choice: one of them is stale.
    """
    raw = os.environ.get(name, "")
    path = os.environ.get(f"{name}_FILE", "")
    if raw and path:
        raise SettingError(f"both {name} and {name}_FILE are set: set only one of them")
    if path:
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise SettingError(f"{name}_FILE={path!r}: cannot read it ({exc.strerror})") from None
        if not value:
            raise SettingError(f"{name}_FILE={path!r}: the file is empty")
        return value
    return raw or None


def env_str(name: str, default: str) -> str:
    value = env_optional(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingError(f"{name}={raw!r}: expected one of true/false/1/0/yes/no/on/off")


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r}: expected a number") from None


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r}: expected a whole number") from None
    if value < minimum:
        raise SettingError(f"{name}={raw!r}: expected {minimum} or more")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def env_networks(name: str, default: list[str]) -> tuple[Network, ...]:
    """Comma-separated networks in CIDR notation ("10.0.0.0/8, ::1/128"; a bare address is
    one host). A network with host bits set ("10.0.0.1/8") is an error, not silently widened
    or narrowed: what was meant is not clear."""
    raw = os.environ.get(name)
    items = default if raw is None or raw.strip() == "" else [i.strip() for i in raw.split(",")]
    networks = []
    for item in items:
        if not item:
            raise SettingError(f"{name}={raw!r}: an empty entry between commas")
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise SettingError(
                f"{name}: {item!r} is not a network in CIDR notation such as 10.0.0.0/8, "
                f"192.0.2.7/32 or ::1/128 ({exc})"
            ) from None
    return tuple(networks)


def env_token(name: str, minimum: int) -> str | None:
    """A bearer token from NAME or NAME_FILE (None when neither is set): at least ``minimum``
    characters, printable ASCII without spaces (it travels in an HTTP header). The messages
    never repeat the value."""
    value = env_optional(name)
    if value is None:
        return None
    if len(value) < minimum:
        raise SettingError(
            f"{name}: the token has {len(value)} characters; use at least {minimum}, for "
            "example from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    if not value.isascii() or any(c.isspace() or not c.isprintable() for c in value):
        raise SettingError(
            f"{name}: the token may hold only printable ASCII characters without spaces "
            "(it is sent in an HTTP header)"
        )
    return value


def state_dir() -> Path:
    """Where agents keep ledgers and the lab keeps pid files.

    Root gets /var/lib/drillhall; anyone else a directory in their home.
    """
    raw = os.environ.get("DRILLHALL_STATE_DIR")
    if raw:
        return Path(raw)
    if os.geteuid() == 0:
        return Path("/var/lib/drillhall")
    return Path.home() / ".local" / "state" / "drillhall"
