"""Strict parsing of settings from the environment.

A bad value is an error at start, not a silent default (healthchecks does the same).
"""

from __future__ import annotations

import os
from pathlib import Path


class SettingError(RuntimeError):
    pass


def env_str(name: str, default: str) -> str:
    # NAME_FILE lets secrets come from a file (Docker/Kubernetes secret mounts).
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


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


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


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
