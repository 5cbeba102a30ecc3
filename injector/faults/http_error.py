"""http.error: a share of the HTTP requests to a port fail (status, reset, or delay first).

Inbound TCP connections to ``port`` in the target's namespace are redirected (nat
prerouting) to an HTTP-aware proxy (``injector.proxy.http_fault``) that reads the request
head; a request matching ``methods`` and the ``path`` prefix fails with probability
``share`` percent: it waits ``delay`` seconds when set, then gets ``status`` or, when
``abort``, a connection reset. Other requests go to the original destination over a socket
the redirect lets by. One request per connection (the proxy forwards ``Connection: close``).
Clients inside the target's own namespace, and IPv6 clients, reach the service directly.
"""

from __future__ import annotations

import re
from typing import Any

from injector import nft
from injector.faults.fault import FaultError
from injector.protocol import FaultSpec
from injector.proxy.redirect import RedirectFault, check_params, integer, number

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# A request-line path: printable ASCII, no spaces (the playbook model checks the same).
PATH = re.compile(r"^/[\x21-\x7e]{0,1023}$")


class HttpErrorFault(RedirectFault):
    kind = "http.error"

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        p = spec.params
        check_params(self.kind, p, {"port", "status", "share", "path", "abort", "methods", "delay"})
        self.port = integer(self.kind, "port", p.get("port"), low=1, high=65535)
        self.status = integer(self.kind, "status", p.get("status", 503), low=400, high=599)
        self.share = number(self.kind, "share", p.get("share", 100.0), low=0.0, high=100.0)
        path = p.get("path", "/")
        if not isinstance(path, str) or not PATH.fullmatch(path):
            shown = repr(path)[:80]
            raise FaultError(
                f"{self.kind}: path must be a URL path prefix starting with / (printable ASCII, "
                f"no spaces), got {shown}",
                True,
            )
        self.path = path
        abort = p.get("abort", False)
        if not isinstance(abort, bool):
            raise FaultError(f"{self.kind}: abort must be true or false, got {abort!r}", True)
        self.abort = abort
        methods = p.get("methods")
        if methods is not None and (
            not isinstance(methods, list) or not methods or not set(methods) <= set(METHODS)
        ):
            raise FaultError(f"{self.kind}: methods must be a non-empty list of {METHODS}", True)
        self.methods: tuple[str, ...] | None = tuple(methods) if methods else None
        delay = p.get("delay")
        self.delay = (
            None if delay is None else number(self.kind, "delay", delay, low=0.0, high=600.0)
        )

    def plan(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fault_id": self.fault_id,
            "mechanism": "proxy",
            "netns": self.netns,
            "port": self.port,
            "status": self.status,
            "share": self.share,
            "path": self.path,
            "methods": list(self.methods) if self.methods else None,
            "abort": self.abort,
            "delay": self.delay,
            "limits": "one request per connection; local and IPv6 clients are not affected",
            "artifacts": self.artifacts(),
        }

    def proxy_args(self) -> list[str]:
        args = ["http", "--listen", "0.0.0.0", "--status", str(self.status)]  # noqa: S104
        args += ["--share", repr(self.share), "--path", self.path]
        for method in self.methods or ():
            args += ["--method", method]
        if self.abort:
            args.append("--abort")
        if self.delay:
            args += ["--delay", repr(self.delay)]
        return args

    def chains(self, proxy_port: int | None) -> list[nft.Chain]:
        assert proxy_port is not None
        match = [nft.match_ports("tcp", "dport", (self.port,))]
        return [self.nat_redirect_chain("prerouting", match, proxy_port)]
