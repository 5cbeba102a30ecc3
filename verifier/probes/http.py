"""HTTP probe: one GET per sample, measuring what a client sees."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from verifier.windows import Sample


@dataclass(frozen=True)
class HttpProbe:
    name: str
    url: str
    timeout: float = 1.0
    expect_status: tuple[int, ...] | None = None

    def sample(self) -> Sample:
        parts = urlsplit(self.url)
        conn_cls = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        start = time.monotonic()
        status: int | None = None
        error: str | None = None
        # A fresh connection per sample: a reused keep-alive socket would hide connect failures.
        conn = conn_cls(parts.hostname or "", parts.port, timeout=self.timeout)
        try:
            conn.request("GET", path, headers={"User-Agent": "drillhall-probe/1"})
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            conn.close()
        latency_ms = (time.monotonic() - start) * 1000.0
        if status is None:
            ok = False
        elif self.expect_status:
            ok = status in self.expect_status
        else:
            ok = 200 <= status < 400
            if not ok:
                error = f"HTTP {status}"
        return Sample(
            t=time.time(),
            probe=self.name,
            ok=ok,
            latency_ms=round(latency_ms, 3),
            status=status,
            error=error,
        )
