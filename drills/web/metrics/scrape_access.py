"""Who may scrape /metrics: an address in DRILLHALL_METRICS_ALLOW and, when
DRILLHALL_METRICS_TOKEN is set, the token as a bearer token too.

Not a person's page: a session gives nothing here (a signed-in admin from a refused address is
refused), as Prometheus has no session. The refusal is a sentence that says which of the two
failed and which setting decides, never the token.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest


@dataclass(frozen=True)
class Refusal:
    status: int  # 403: not from here; 401: the token is missing or wrong
    sentence: str


def client_address(request: HttpRequest) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """REMOTE_ADDR only (never a header the client writes), IPv4-mapped IPv6 as IPv4."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def bearer_token(request: HttpRequest) -> str | None:
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def refusal(request: HttpRequest) -> Refusal | None:
    """None when the request may scrape, else why not."""
    address = client_address(request)
    allowed = settings.DRILLHALL_METRICS_ALLOW
    if address is None or not any(address in network for network in allowed):
        networks = ", ".join(str(n) for n in allowed)
        return Refusal(
            403,
            f"Metrics are served only to addresses in DRILLHALL_METRICS_ALLOW ({networks}); "
            f"{address or 'this client'} is not among them.",
        )
    expected = settings.DRILLHALL_METRICS_TOKEN
    if expected is None:
        return None
    given = bearer_token(request)
    if given is None:
        return Refusal(
            401,
            "Metrics need the token set in DRILLHALL_METRICS_TOKEN, sent as "
            "“Authorization: Bearer <token>” (Prometheus: authorization.credentials_file).",
        )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return Refusal(401, "The bearer token is not the one set in DRILLHALL_METRICS_TOKEN.")
    return None
