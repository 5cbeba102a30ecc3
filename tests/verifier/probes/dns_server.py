"""A tiny authoritative DNS server over UDP for the DNS probe's tests, built with dnspython.

It answers the A records it holds, NXDOMAIN for every other name, and nothing at all for the
names it is told to ignore (so a probe sees a real timeout); each query it receives is recorded.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsServer:
    def __init__(self, sock: socket.socket, records: dict[str, list[str]], silent: set[str]):
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        self.address: str = sock.getsockname()[0]
        self.records = {_norm(name): list(values) for name, values in records.items()}
        self.silent = {_norm(name) for name in silent}
        self.queries: list[tuple[str, str]] = []  # (name, type) as received
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="dns-server")
        self._thread.start()

    def _serve(self) -> None:
        # A short timeout so that close() is noticed without a datagram to wake the loop.
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                wire, client = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self._reply(wire)
            if reply is not None:
                self.sock.sendto(reply, client)

    def _reply(self, wire: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        question = query.question[0]
        name = _norm(question.name.to_text())
        self.queries.append((name, dns.rdatatype.to_text(question.rdtype)))
        if name in self.silent:
            return None
        response = dns.message.make_response(query)
        if name not in self.records:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.A:
            response.answer.append(
                dns.rrset.from_text(question.name, 60, "IN", "A", *self.records[name])
            )
        # A name we hold, asked for another type: NOERROR with an empty answer (NODATA).
        return response.to_wire()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def _norm(name: str) -> str:
    return name.rstrip(".").lower()


@contextmanager
def dns_server(
    records: dict[str, list[str]], silent: set[str] | frozenset[str] = frozenset()
) -> Iterator[DnsServer]:
    """A DnsServer on an ephemeral UDP port of 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    server = DnsServer(sock, records, set(silent))
    try:
        yield server
    finally:
        server.close()
