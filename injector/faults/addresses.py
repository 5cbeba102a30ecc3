"""Addresses in a fault's params: a plain IPv4 or IPv6 address, or a permanent FaultError.

The playbook model checks addresses too, but an agent does not trust its orchestrator: what
reaches nftables or tc is parsed again here. ``ipaddress`` alone is not enough: it accepts a
scoped IPv6 address (``fe80::1%eth0``) whose scope is any text at all, and keeps that text in
``str()``. An address with a scope names an interface, not a peer, so it is refused outright.
"""

from __future__ import annotations

import ipaddress

from injector.faults.fault import FaultError


def plain_address(kind: str, raw: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``raw`` (a string) parsed as an address without a scope id; FaultError otherwise."""
    if not isinstance(raw, str):
        raise FaultError(f"{kind}: {raw!r} is not an IP address", True)
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        raise FaultError(f"{kind}: {raw!r} is not an IP address", True) from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        raise FaultError(
            f"{kind}: {raw!r} has a scope id (the part after %); give the address alone", True
        )
    return address
