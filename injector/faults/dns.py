"""network.dns: names matching a pattern get SERVFAIL, NXDOMAIN or no answer at all.

A stub resolver (``python -m injector.dnsstub``) runs as a detached child inside the target
namespace, and an nftables table per run and step (``inet drillhall_r{run}_s{step}``)
redirects the namespace's outgoing UDP and TCP port-53 traffic to it. The stub answers
matching names itself and forwards the rest to the resolver each client asked; its own
upstream queries carry a firewall mark that the redirect returns on, so they are not looped
back. The stub is pattern-aware for every answer, ``timeout`` included, so the mechanism is
always "stub-resolver" (the playbook planner predicts "nftables" for timeout).

Apply starts the stub first and redirects only once it listens; revert deletes the table
first (no query is sent to a port that is about to close), then stops the stub.
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from typing import Any

from injector import children, nft
from injector.faults.fault import Fault, FaultError
from injector.protocol import FaultSpec

READY_TIMEOUT = 5.0
STOP_GRACE = 2.0
# dstnat priority: where a redirect of locally generated packets belongs.
CHAIN_PRIORITY = -100
# Marks the stub's own upstream queries (SO_MARK) so that the redirect lets them through.
STUB_MARK = 0xD7115353
CHILD = "dnsstub"
READY_FILE = "dnsstub.ready"
ANSWERS = ("servfail", "nxdomain", "timeout")
# The playbook's glob alphabet, never starting with '-' (it is an argument of the stub).
GLOB = re.compile(r"^[A-Za-z0-9*?_.][A-Za-z0-9*?._-]{0,252}$")
ALLOWED_PARAMS = {"pattern", "answer", "host"}


@dataclass(frozen=True)
class DnsParams:
    pattern: str
    answer: str

    @classmethod
    def parse(cls, params: dict[str, Any]) -> DnsParams:
        unknown = set(params) - ALLOWED_PARAMS
        if unknown:
            raise FaultError(f"network.dns: unknown params {sorted(unknown)}", True)
        pattern = params.get("pattern", "*")
        if not isinstance(pattern, str) or not GLOB.fullmatch(pattern):
            shown = repr(pattern)[:80]
            raise FaultError(
                f"network.dns: pattern must be a name glob like *.shop.internal, got {shown}",
                True,
            )
        answer = params.get("answer")
        if answer not in ANSWERS:
            raise FaultError(f"network.dns: answer must be one of {ANSWERS}, got {answer!r}", True)
        return cls(pattern=pattern, answer=answer)


class DnsFault(Fault):
    kind = "network.dns"

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        self.params = DnsParams.parse(spec.params)

    @property
    def table(self) -> str:
        return nft.table_name(self.spec.run, self.spec.step)

    def plan(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fault_id": self.fault_id,
            "mechanism": "stub-resolver",
            "netns": self.netns,
            "pattern": self.params.pattern,
            "answer": self.params.answer,
            "protocols": ["udp", "tcp"],
            "artifacts": [
                f"nft table inet {self.table}",
                f"child process {CHILD} (pid file in {self.workdir})",
            ],
        }

    def stub_argv(self) -> list[str]:
        return [
            sys.executable, "-m", "injector.dnsstub",
            f"--pattern={self.params.pattern}",  # glued: never read as an option of its own
            "--answer", self.params.answer,
            "--mark", hex(STUB_MARK),
            "--ready", str(self.workdir / READY_FILE),
        ]  # fmt: skip

    def ruleset(self, port: int, families: list[str]) -> nft.Document:
        """The document redirecting port 53 to the stub's port."""
        rules: list[nft.Rule] = [(nft.match_mark(STUB_MARK), nft.return_())]
        protocols: tuple[nft.L4Protocol, ...] = ("udp", "tcp")
        for family in families:
            nfproto: nft.NfProto = "ipv4" if family == "ipv4" else "ipv6"
            for proto in protocols:
                rules.append(
                    (
                        nft.match_nfproto(nfproto),
                        nft.match_ports(proto, "dport", (53,)),
                        nft.redirect(port),
                    )
                )
        chain = nft.Chain("output", "nat", CHAIN_PRIORITY, tuple(rules))
        return nft.ruleset(self.table, self.fault_id, [chain])

    def apply(self) -> None:
        self.require_netns()
        self.workdir.mkdir(parents=True, exist_ok=True)
        ready = self.workdir / READY_FILE
        if not children.alive(self.workdir, CHILD):
            # A stale pid file or ready file from a crashed apply must not be trusted.
            children.stop(self.workdir, CHILD, STOP_GRACE)
            ready.unlink(missing_ok=True)
            children.spawn(self.workdir, CHILD, self.stub_argv(), netns=self.netns)
        info = self._wait_ready()
        nft.apply(self.netns, self.table, self.ruleset(info["port"], info["families"]))

    def _wait_ready(self) -> dict[str, Any]:
        ready = self.workdir / READY_FILE
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                info = json.loads(ready.read_text())
            except (OSError, ValueError):
                info = None
            if isinstance(info, dict) and isinstance(info.get("port"), int):
                return info
            if not children.alive(self.workdir, CHILD):
                break
            time.sleep(0.02)
        log = self.workdir / f"{CHILD}.log"
        detail = log.read_text()[-500:] if log.exists() else "no log"
        children.stop(self.workdir, CHILD, STOP_GRACE)
        raise FaultError(f"the DNS stub did not start: {detail.strip()}")

    def revert(self) -> None:
        nft.delete(self.netns, self.table)
        # Stopped even when the namespace is gone: a process keeps a deleted namespace alive.
        if not children.stop(self.workdir, CHILD, STOP_GRACE):
            raise FaultError(f"the DNS stub of {self.fault_id} would not stop")
        (self.workdir / READY_FILE).unlink(missing_ok=True)

    def is_active(self) -> bool:
        if children.alive(self.workdir, CHILD):
            return True
        return nft.exists(self.netns, self.table)
