"""HTTP probe: one GET per sample, measuring what a client sees.

With ``body_contains`` a sample is good only when the body holds that text as well; only the
first ``MAX_BODY_BYTES`` of a body are read, so a large or endless answer cannot exhaust memory.

It speaks plain http.client: one request to the URL's host, no redirect followed (a 3xx is the
sample's answer, and its Location is never read), no proxy from the environment, no other
scheme: a server cannot send the probe to file:// or to a third host.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from verifier.windows import Sample

MAX_BODY_BYTES = 64 * 1024
HTTP_SCHEMES = ("http", "https")


def check_http_url(url: str) -> None:
    """Raise ValueError unless ``url`` is http(s) with a host and no credentials: the playbook
    model refuses the rest, and a plan built by other means must not get further."""
    parts = urlsplit(url)
    if parts.scheme not in HTTP_SCHEMES or not parts.hostname or "@" in parts.netloc:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {url!r}")


@dataclass(frozen=True)
class HttpProbe:
    name: str
    url: str
    timeout: float = 1.0
    expect_status: tuple[int, ...] | None = None
    body_contains: str | None = None

    def __post_init__(self) -> None:
        check_http_url(self.url)

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
        body = b""
        error: str | None = None
        # A fresh connection per sample: a reused keep-alive socket would hide connect failures.
        conn = conn_cls(parts.hostname or "", parts.port, timeout=self.timeout)
        try:
            conn.request("GET", path, headers={"User-Agent": "drillhall-probe/1"})
            response = conn.getresponse()
            body = response.read(MAX_BODY_BYTES)
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            conn.close()
        latency_ms = (time.monotonic() - start) * 1000.0
        ok = False
        if status is not None:
            if self.expect_status:
                ok = status in self.expect_status
            else:
                ok = 200 <= status < 400
            if not ok:
                error = f"HTTP {status}"
            elif self.body_contains is not None and self.body_contains.encode() not in body:
                ok = False
                error = self._missing_text_error()
        return Sample(
            t=time.time(),
            probe=self.name,
            ok=ok,
            latency_ms=round(latency_ms, 3),
            status=status,
            error=error,
        )

    def _missing_text_error(self) -> str:
        text = self.body_contains or ""
        shown = text if len(text) <= 60 else f"{text[:57]}..."
        return f"the body did not contain {shown!r} (first {MAX_BODY_BYTES // 1024} KiB read)"
