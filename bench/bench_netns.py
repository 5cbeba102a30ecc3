"""The network benches' own namespaces, and what they share: commands run without a shell,
percentiles, and a SIGTERM that unwinds. Names start ``bh-``, never the test suite's ``dh-``.
Used by bench/fault_apply.py, bench/proxy_throughput.py and bench/latency_error.py.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

ADDRESSES = ("198.18.0.1", "198.18.0.2")
COMMAND_TIMEOUT = 10.0


def sh(argv: list[str], *, input: str | None = None, check: bool = True) -> str:
    """Run argv (never through a shell); its stdout. A failure ends the bench with its stderr."""
    proc = subprocess.run(
        argv, input=input, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


@dataclass(frozen=True)
class Lab:
    """Namespaces of the bench's own: ``bh-`` names, never the test suite's ``dh-`` ones."""

    names: tuple[str, ...]

    @property
    def a(self) -> str:
        return self.names[0]

    @property
    def b(self) -> str:
        return self.names[-1]

    def address(self, ns: str) -> str:
        return ADDRESSES[self.names.index(ns)]

    @staticmethod
    def exec(ns: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]


@contextmanager
def lab(tag: str, pair: bool = True) -> Iterator[Lab]:
    """One namespace with loopback only, or two joined by a veth pair; deleted on the way out,
    whatever happened (deleting a namespace takes its veth end and nft tables with it)."""
    suffixes = ("a", "b") if pair else ("a",)
    built = Lab(tuple(f"bh-{tag}-{os.getpid()}-{s}" for s in suffixes))
    try:
        for ns in built.names:
            sh(["ip", "netns", "add", ns])
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        if pair:
            sh(["ip", "link", "add", "veth0", "netns", built.a,
                "type", "veth", "peer", "name", "veth0", "netns", built.b])  # fmt: skip
            for ns in built.names:
                sh(["ip", "-n", ns, "addr", "add", f"{built.address(ns)}/30", "dev", "veth0"])
                sh(["ip", "-n", ns, "link", "set", "veth0", "up"])
        yield built
    finally:
        for ns in built.names:
            sh(["ip", "netns", "del", ns], check=False)


def exit_on_sigterm() -> None:
    """SIGTERM (a timeout, run_all interrupted) unwinds like an exception, so every ``finally``
    runs and no namespace, table or proxy of the bench is left behind."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: a value that was measured, so p99 of 50 rounds is the slowest but none."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def p50_p99(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99)}
