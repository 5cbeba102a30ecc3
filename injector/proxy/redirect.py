"""The agent side of the proxy-based faults: one nft table, and at most one proxy child.

Every artifact has a deterministic name, so a fresh fault object (a janitor after a crash)
finds it: the table ``inet drillhall_r{run}_s{step}`` in the target's namespace, and the child
``proxy`` in the fault's workdir (pid file with start time, port file, log). apply() starts
the proxy before it writes the table (no redirect ever points at nothing) and revert() deletes
the table before it stops the proxy (no client is redirected to a dying proxy).
"""

from __future__ import annotations

import sys
import time
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path

from injector import children, nft
from injector.faults.fault import Fault, FaultError
from injector.protocol import FaultSpec
from injector.proxy.origdst import PROXY_MARK

PROXY_START_TIMEOUT = 5.0
STOP_GRACE = 2.0
CHILD = "proxy"
# Before the default filter priority (0), like network.partition; nat chains use the
# conventional dstnat priority.
FILTER_PRIORITY = -10
NAT_PRIORITY = -100


def int_list(kind: str, name: str, value: object, *, low: int, high: int) -> tuple[int, ...]:
    """A non-empty list of integers in [low, high], deduplicated and sorted (permanent error)."""
    if (
        not isinstance(value, list)
        or not value
        or not all(
            isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in value
        )
    ):
        raise FaultError(f"{kind}: {name} must be a non-empty list of integers {low}-{high}", True)
    return tuple(sorted(set(value)))


def integer(kind: str, name: str, value: object, *, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise FaultError(f"{kind}: {name} must be an integer {low}-{high}, got {value!r}", True)
    return value


def number(kind: str, name: str, value: object, *, low: float, high: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise FaultError(f"{kind}: {name} must be a number in [{low}, {high}], got {value!r}", True)
    return float(value)


def check_params(kind: str, params: dict[str, object], allowed: set[str]) -> None:
    unknown = set(params) - allowed - {"host"}  # "host" routes the spec; the fault ignores it
    if unknown:
        raise FaultError(f"{kind}: unknown params {sorted(unknown)}", True)


class RedirectFault(Fault):
    """A fault made of an nft table (``chains()``) and, if ``proxy_args()`` says so, a proxy."""

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)

    @property
    def table(self) -> str:
        return nft.table_name(self.spec.run, self.spec.step)

    @property
    def port_file(self) -> Path:
        return self.workdir / f"{CHILD}.port"

    @abstractmethod
    def chains(self, proxy_port: int | None) -> list[nft.Chain]:
        """The chains of the table, given the port the proxy listens on (if any)."""

    def proxy_args(self) -> list[str] | None:
        """The ``python -m injector.proxy`` arguments after the mode, or None for no proxy."""
        return None

    def artifacts(self) -> list[str]:
        found = [f"nft table inet {self.table}"]
        if self.proxy_args() is not None:
            found.append(f"child {CHILD} ({self.workdir / (CHILD + '.pid')})")
        return found

    def ruleset(self, proxy_port: int | None) -> nft.Document:
        return nft.ruleset(self.table, self.fault_id, self.chains(proxy_port))

    def nat_redirect_chain(
        self, hook: nft.Hook, match: Sequence[nft.Statement], proxy_port: int
    ) -> nft.Chain:
        """A nat chain redirecting ``match`` to the proxy, letting the proxy's own traffic by."""
        return nft.Chain(
            hook,
            "nat",
            NAT_PRIORITY,
            (
                (nft.match_mark(PROXY_MARK), nft.return_()),
                (nft.match_nfproto("ipv4"), *match, nft.redirect(proxy_port)),
            ),
        )

    def filter_chain(self, hook: nft.Hook, rule: nft.Rule) -> nft.Chain:
        return nft.Chain(hook, "filter", FILTER_PRIORITY, (rule,))

    # -- apply / revert --
    def apply(self) -> None:
        self.require_netns()
        port = self.ensure_proxy()
        self.write_table(port)

    def write_table(self, proxy_port: int | None) -> None:
        nft.apply(self.netns, self.table, self.ruleset(proxy_port))

    def ensure_proxy(self) -> int | None:
        """Start the proxy unless it already runs; return the port it listens on."""
        args = self.proxy_args()
        if args is None:
            return None
        if children.alive(self.workdir, CHILD):
            port = self.read_port()
            if port is not None:
                return port
            children.stop(self.workdir, CHILD, STOP_GRACE)  # alive but never listened: restart
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port_file.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "injector.proxy", *args, "--port-file", str(self.port_file)]
        children.spawn(self.workdir, CHILD, argv, netns=self.netns)
        deadline = time.monotonic() + PROXY_START_TIMEOUT
        while time.monotonic() < deadline:
            port = self.read_port()
            if port is not None:
                return port
            if not children.alive(self.workdir, CHILD):
                break
            time.sleep(0.02)
        log = self.workdir / f"{CHILD}.log"
        tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
        children.stop(self.workdir, CHILD, STOP_GRACE)
        raise FaultError(f"{self.kind}: the proxy did not start: {tail.strip() or 'no output'}")

    def read_port(self) -> int | None:
        try:
            text = self.port_file.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def revert(self) -> None:
        self.delete_table()
        if not children.stop(self.workdir, CHILD, STOP_GRACE):
            raise FaultError(f"{self.kind}: the proxy of {self.fault_id} would not stop")
        self.port_file.unlink(missing_ok=True)

    def delete_table(self) -> None:
        nft.delete(self.netns, self.table)

    def is_active(self) -> bool:
        return self.table_exists() or children.alive(self.workdir, CHILD)

    def table_exists(self) -> bool:
        return nft.exists(self.netns, self.table)

    # -- helpers --

    def netns_missing(self) -> bool:
        return nft.netns_missing(self.netns)
