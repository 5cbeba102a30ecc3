"""Thin wrappers around iproute2 (`ip`) for namespaces and links.

`ip` argv lists rather than pyroute2: every step is then the exact command an operator would
type to inspect or repair the lab by hand, and a failure carries ip's own message.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from drills.lab.lab_error import LabError

IP_TIMEOUT_S = 10.0
NETNS_DIR = Path("/run/netns")
SYS_NET = Path("/sys/class/net")


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = ["ip", *args]
    try:
        proc = subprocess.run(  # noqa: S603 (fixed argv, no shell)
            argv, capture_output=True, text=True, timeout=IP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{' '.join(argv)}: {exc}") from exc
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def link_exists(name: str) -> bool:
    """Whether a link of that name exists in the root namespace."""
    return (SYS_NET / name).exists()


def link_is_up(name: str) -> bool:
    try:
        return (SYS_NET / name / "operstate").read_text().strip() in {"up", "unknown"}
    except OSError:
        return False


def netns_pids(name: str) -> list[int]:
    """Every process whose network namespace is `name` (empty when it does not exist)."""
    if not netns_exists(name):
        return []
    proc = ip("netns", "pids", name, check=False)
    return [int(tok) for tok in proc.stdout.split() if tok.isdigit()]


def netns_addresses(netns: str, iface: str) -> list[str]:
    """IPv4 addresses on `iface` inside `netns` (empty when either is missing)."""
    if not netns_exists(netns):
        return []
    proc = ip("-n", netns, "-j", "-4", "addr", "show", "dev", iface, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return []
    try:
        entries = json.loads(proc.stdout)
    except ValueError:
        return []
    return [
        a["local"]
        for entry in entries
        for a in entry.get("addr_info", [])
        if a.get("family") == "inet" and "local" in a
    ]
