"""Prometheus probe: one instant query per sample against a URL the user gives.

The query's number is the sample's ``value`` (what ``last(probe.value)`` reads in an SLA);
``latency_ms`` is the request time and ``status`` the HTTP status.
"""

from __future__ import annotations

import http.client
import json
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from verifier.probes.http import check_http_url
from verifier.windows import Sample


class PrometheusResultError(ValueError):
    pass


def query_value(document: Any) -> float:
    """The number an instant-query answer holds; the first series of a vector."""
    if not isinstance(document, dict) or document.get("status") != "success":
        reason = document.get("error") if isinstance(document, dict) else None
        raise PrometheusResultError(f"query failed: {reason or 'status is not success'}")
    data = document.get("data") or {}
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "vector":
        if not result:
            raise PrometheusResultError("empty result")
        pair = result[0].get("value") if isinstance(result[0], dict) else None
    elif kind == "scalar":
        pair = result
    else:
        raise PrometheusResultError(f"result type {kind!r} is not a number")
    try:
        value = float(pair[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        raise PrometheusResultError(f"not a number: {pair!r}") from None
    if math.isnan(value):  # e.g. 0/0 in PromQL: no usable number
        raise PrometheusResultError("the result is NaN")
    return value


@dataclass(frozen=True)
class PrometheusProbe:
    name: str
    url: str  # the Prometheus base URL, e.g. http://10.77.0.9:9090
    query: str
    timeout: float = 2.0

    def __post_init__(self) -> None:
        check_http_url(self.url)

    def request_path(self) -> str:
        parts = urlsplit(self.url)
        base = parts.path.rstrip("/")
        return f"{base}/api/v1/query?{urlencode({'query': self.query})}"

    def sample(self) -> Sample:
        parts = urlsplit(self.url)
        conn_cls = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        start = time.monotonic()
        status: int | None = None
        error: str | None = None
        value: float | None = None
        conn = conn_cls(parts.hostname or "", parts.port, timeout=self.timeout)
        try:
            conn.request(
                "GET",
                self.request_path(),
                headers={"User-Agent": "drillhall-probe/1", "Accept": "application/json"},
            )
            response = conn.getresponse()
            body = response.read()
            status = response.status
            # Prometheus answers 400/422 with a JSON error document worth showing.
            value = query_value(json.loads(body))
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        except (ValueError, AttributeError) as exc:
            error = str(exc) or type(exc).__name__
        finally:
            conn.close()
        latency_ms = (time.monotonic() - start) * 1000.0
        return Sample(
            t=time.time(),
            probe=self.name,
            ok=value is not None,
            latency_ms=round(latency_ms, 3),
            status=status,
            error=error[:200] if error else None,
            value=value,
        )
