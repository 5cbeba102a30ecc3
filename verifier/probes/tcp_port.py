"""TCP probe: the time a client needs to complete a connect."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from verifier.windows import Sample


@dataclass(frozen=True)
class TcpProbe:
    name: str
    host: str
    port: int
    timeout: float = 1.0

    def __post_init__(self) -> None:
        # "%" only ever starts an IPv6 scope (no host name holds one): a scope names an
        # interface of this machine, and the connect would leave through it to whoever is there.
        if "%" in self.host:
            raise ValueError(
                f"{self.host!r} has a scope (the part after %); give the address alone"
            )

    def sample(self) -> Sample:
        start = time.monotonic()
        error: str | None = None
        try:
            # A new connection per sample, closed at once: only the handshake is measured.
            with socket.create_connection((self.host, self.port), timeout=self.timeout):
                pass
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        latency_ms = (time.monotonic() - start) * 1000.0
        return Sample(
            t=time.time(),
            probe=self.name,
            ok=error is None,
            latency_ms=round(latency_ms, 3),
            error=error,
        )
