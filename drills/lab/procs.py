"""Process helpers: is a pid alive (zombies count as dead), is it still ours, stop it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

TERM_GRACE_S = 3.0


def alive(pid: int) -> bool:
    """True when `pid` runs; a zombie (exited, not yet reaped) counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the parenthesised command name, which may itself hold spaces.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _reap(pid: int) -> None:
    # Services started by this very process are its children: reap them, or they linger
    # as zombies that still look like pids in /proc.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def terminate(pids: list[int], grace_s: float = TERM_GRACE_S) -> list[int]:
    """SIGTERM every pid, SIGKILL those still alive after `grace_s`; returns the pids stopped."""
    targets = [p for p in dict.fromkeys(pids) if p > 1 and p != os.getpid() and alive(p)]
    for pid in targets:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        for pid in targets:
            _reap(pid)
        if not any(alive(p) for p in targets):
            break
        time.sleep(0.02)
    for pid in targets:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for pid in targets:
        for _ in range(50):
            _reap(pid)
            if not alive(pid):
                break
            time.sleep(0.01)
    return targets
