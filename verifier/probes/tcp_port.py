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
