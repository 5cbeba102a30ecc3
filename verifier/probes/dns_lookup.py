"""DNS lookup probe: one query over UDP per sample, to the server the playbook names.

A sample is good when the server answered NOERROR with at least one record of the type asked;
``value`` is how many such records came back (none without an answer) and ``error`` says in
words what went wrong (the response code, an empty answer, or no answer at all). ``status`` is
the response code's number (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...), so an SLA can tell them
apart.

The server is an IP address (the planner replaces a target or host name by its address): the
probe never asks the system's resolver, whose failure is what a DNS drill injects, and reads
no resolver configuration. Everything happens in this thread with dnspython, so a probe
``from`` a host queries from inside that host's network namespace like every other probe.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from typing import Literal, get_args

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from verifier.windows import Sample

# The record types a playbook may ask for (the playbook model uses this type).
RecordType = Literal["A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT"]
RECORD_TYPES: tuple[str, ...] = get_args(RecordType)

# What each response code means to someone reading a run's events.
_RCODE_WORDS = {
    dns.rcode.FORMERR: "the server could not read the query",
    dns.rcode.SERVFAIL: "the server failed to resolve the name",
    dns.rcode.NXDOMAIN: "the name does not exist",
    dns.rcode.NOTIMP: "the server does not support this query",
    dns.rcode.REFUSED: "the server refused to answer",
}


@dataclass(frozen=True)
class DnsProbe:
    name: str
    query: str  # the name to resolve, e.g. db1.lab
    server: str  # an IP address
    port: int = 53
    record_type: str = "A"
    timeout: float = 1.0

    def __post_init__(self) -> None:
        # The model checks these; a plan built by other means must not get further either.
        server = ipaddress.ip_address(self.server)  # ValueError: not an address
        if isinstance(server, ipaddress.IPv6Address) and server.scope_id is not None:
            # A scope names an interface of this machine, not a server the plan resolved.
            raise ValueError(
                f"{self.server!r} has a scope (the part after %); give the address alone"
            )
        try:
            dns.name.from_text(self.query)
        except dns.exception.DNSException as exc:
            raise ValueError(f"{self.query!r} is not a DNS name: {exc}") from None
        if self.record_type not in RECORD_TYPES:
            raise ValueError(f"record type {self.record_type!r} is not one of {RECORD_TYPES}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is out of range")

    def sample(self) -> Sample:
        asked = dns.rdatatype.from_text(self.record_type)
        request = dns.message.make_query(self.query, asked)
        start = time.monotonic()
        status: int | None = None
        records: int | None = None  # None: no answer came back, so nothing was counted
        error: str | None = None
        try:
            # ignore_unexpected: a stray datagram from elsewhere is not this server's answer.
            response = dns.query.udp(
                request, self.server, timeout=self.timeout, port=self.port, ignore_unexpected=True
            )
        except dns.exception.Timeout:
            error = f"no answer within {self.timeout:g}s (timed out)"
        except (OSError, dns.exception.DNSException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        else:
            rcode = response.rcode()
            status = int(rcode)  # a plain number in the run's events
            records = sum(len(rrset) for rrset in response.answer if rrset.rdtype == asked)
            error = _problem(rcode, records, self.record_type)
        latency_ms = (time.monotonic() - start) * 1000.0
        return Sample(
            t=time.time(),
            probe=self.name,
            ok=error is None,
            latency_ms=round(latency_ms, 3),
            status=status,
            error=error,
            value=None if records is None else float(records),
        )


def _problem(rcode: dns.rcode.Rcode, records: int, record_type: str) -> str | None:
    """What is wrong with an answer, in words; None for a good one."""
    if rcode != dns.rcode.NOERROR:
        text = dns.rcode.to_text(rcode)
        words = _RCODE_WORDS.get(rcode)
        return f"{text}: {words}" if words else text
    if records == 0:
        return f"NOERROR but no {record_type} record: the name has none"
    return None
