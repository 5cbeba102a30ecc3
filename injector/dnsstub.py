"""The stub resolver behind network.dns, run as a detached child inside the target namespace.

    python -m injector.dnsstub --pattern GLOB --answer servfail|nxdomain|timeout
                               --mark MARK --ready FILE

It listens on an ephemeral port of 127.0.0.1 (and ::1 when the namespace has it), UDP and TCP,
and writes {"port", "families", "pid"} to FILE once bound. nftables redirects the namespace's
outgoing port-53 traffic there. Queries for names matching GLOB get the configured answer
(``timeout``: none at all); every other query is forwarded, with SO_MARK set so the redirect
lets it pass, to the resolver the client actually asked:

- TCP: the original destination comes from SO_ORIGINAL_DST on the accepted socket.
- UDP: a redirected datagram has no SO_ORIGINAL_DST (the kernel only answers it for TCP and
  SCTP) and IP_RECVORIGDSTADDR only sees through TPROXY, not NAT; so the stub reads the NAT
  entry of the datagram from the namespace's conntrack table (/proc/net/nf_conntrack, whose
  reply tuple is stub -> client) and takes the original tuple's destination. When that table
  is not readable, the first nameserver of the namespace's resolv.conf is used instead.
"""

from __future__ import annotations

import argparse
import fnmatch
import ipaddress
import json
import os
import socket
import struct
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import dns.exception
import dns.message
import dns.rcode

Answer = Literal["servfail", "nxdomain", "timeout"]
ANSWERS: tuple[Answer, ...] = ("servfail", "nxdomain", "timeout")
SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h; the IPv6 one (IP6T_SO_ORIGINAL_DST) is also 80
UPSTREAM_TIMEOUT = 4.0
TCP_IDLE_TIMEOUT = 30.0
MAX_WORKERS = 64
CONNTRACK = Path("/proc/net/nf_conntrack")
RESOLV_CONF = Path("/etc/resolv.conf")

Address = tuple[str, int]


@dataclass(frozen=True)
class Decision:
    action: Literal["forward", "reply", "drop"]
    wire: bytes = b""


def matches(name: str, pattern: str) -> bool:
    """Whether a query name matches the glob, case-insensitively, trailing dot ignored."""
    return fnmatch.fnmatchcase(name.rstrip(".").lower(), pattern.rstrip(".").lower())


def decide(wire: bytes, pattern: str, answer: Answer) -> Decision:
    """What to do with one DNS query in wire format."""
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return Decision("forward")  # not ours to judge: the real resolver answers it
    if not query.question or not matches(query.question[0].name.to_text(), pattern):
        return Decision("forward")
    if answer == "timeout":
        return Decision("drop")
    response = dns.message.make_response(query, recursion_available=True)
    response.set_rcode(dns.rcode.SERVFAIL if answer == "servfail" else dns.rcode.NXDOMAIN)
    return Decision("reply", response.to_wire())


def original_udp_destination(listen: Address, client: Address) -> Address | None:
    """The destination a redirected datagram from client had, from its conntrack entry."""
    try:
        lines = CONNTRACK.read_text().splitlines()
    except OSError:
        return None
    want = (_norm(listen[0]), str(listen[1]), _norm(client[0]), str(client[1]))
    for line in lines:
        fields = line.split()
        if "udp" not in fields[:3]:
            continue
        src = [v for k, v in _pairs(fields) if k == "src"]
        dst = [v for k, v in _pairs(fields) if k == "dst"]
        sport = [v for k, v in _pairs(fields) if k == "sport"]
        dport = [v for k, v in _pairs(fields) if k == "dport"]
        if min(len(src), len(dst), len(sport), len(dport)) < 2:
            continue
        # The second tuple is the reply direction: stub -> client.
        if (_norm(src[1]), sport[1], _norm(dst[1]), dport[1]) == want:
            return (str(ipaddress.ip_address(dst[0])), int(dport[0]))
    return None


def _pairs(fields: list[str]) -> list[tuple[str, str]]:
    return [tuple(f.split("=", 1)) for f in fields if "=" in f]  # type: ignore[misc]


def _norm(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return address


def resolv_conf_nameserver() -> Address | None:
    try:
        lines = RESOLV_CONF.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            return (_norm(parts[1]), 53)
    return None


class Stub:
    def __init__(self, pattern: str, answer: Answer, mark: int) -> None:
        self.pattern = pattern
        self.answer = answer
        self.mark = mark
        self.pool = ThreadPoolExecutor(max_workers=MAX_WORKERS)
        self.tcp_slots = threading.BoundedSemaphore(MAX_WORKERS)
        self.port = 0
        self.families: list[str] = []

    # -- listening --
    def bind(self) -> list[tuple[socket.socket, socket.socket]]:
        """UDP+TCP listeners on one ephemeral port, on 127.0.0.1 and (if present) ::1."""
        for _ in range(50):
            pairs: list[tuple[socket.socket, socket.socket]] = []
            try:
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                udp.bind(("127.0.0.1", 0))
                port = udp.getsockname()[1]
                pairs.append((udp, self._tcp_listener(socket.AF_INET, "127.0.0.1", port)))
            except OSError:
                for u, t in pairs:
                    u.close()
                    t.close()
                udp.close()
                continue  # the TCP port was taken: draw another ephemeral port
            self.port, self.families = port, ["ipv4"]
            try:
                udp6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            except OSError:
                return pairs  # no IPv6 in this kernel: the redirect is then IPv4 only
            try:
                udp6.bind(("::1", port))
                pairs.append((udp6, self._tcp_listener(socket.AF_INET6, "::1", port)))
                self.families.append("ipv6")
            except OSError:
                udp6.close()  # no IPv6 loopback here (or the port is taken): IPv4 only
            return pairs
        raise OSError("no free port for both UDP and TCP")

    @staticmethod
    def _tcp_listener(family: int, address: str, port: int) -> socket.socket:
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((address, port))
            tcp.listen(128)
        except OSError:
            tcp.close()
            raise
        return tcp

    def serve(self, pairs: list[tuple[socket.socket, socket.socket]]) -> None:
        threads = []
        for udp, tcp in pairs:
            threads.append(threading.Thread(target=self.udp_loop, args=(udp,), daemon=True))
            threads.append(threading.Thread(target=self.tcp_loop, args=(tcp,), daemon=True))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # -- UDP --
    def udp_loop(self, sock: socket.socket) -> None:
        listen = sock.getsockname()[:2]
        while True:
            wire, client = sock.recvfrom(65535)
            self.pool.submit(self.udp_query, sock, listen, client[:2], wire)

    def udp_query(self, sock: socket.socket, listen: Address, client: Address, wire: bytes) -> None:
        try:
            self._udp_query(sock, listen, client, wire)
        except Exception as exc:  # a worker thread must not die silently in the pool
            print(f"dnsstub: UDP query from {client} failed: {exc!r}", flush=True)

    def _udp_query(
        self, sock: socket.socket, listen: Address, client: Address, wire: bytes
    ) -> None:
        decision = decide(wire, self.pattern, self.answer)
        if decision.action == "drop":
            return
        reply = decision.wire
        if decision.action == "forward":
            upstream = original_udp_destination(listen, client) or resolv_conf_nameserver()
            if upstream is None or upstream == listen:
                return  # nowhere to forward to: the client times out, as without a resolver
            reply = self.forward_udp(upstream, wire) or b""
        if reply:
            sock.sendto(reply, client)

    def forward_udp(self, upstream: Address, wire: bytes) -> bytes | None:
        family = socket.AF_INET6 if ":" in upstream[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, struct.pack("=I", self.mark))
            sock.settimeout(UPSTREAM_TIMEOUT)
            try:
                sock.connect(upstream)
                sock.send(wire)
                return sock.recv(65535)
            except OSError:
                return None

    # -- TCP --
    def tcp_loop(self, listener: socket.socket) -> None:
        while True:
            conn, _ = listener.accept()
            if not self.tcp_slots.acquire(blocking=False):
                conn.close()  # too many open connections: shed load rather than queue
                continue
            threading.Thread(target=self.tcp_connection, args=(conn,), daemon=True).start()

    def tcp_connection(self, conn: socket.socket) -> None:
        try:
            with conn:
                conn.settimeout(TCP_IDLE_TIMEOUT)
                upstream = self._original_tcp_destination(conn)
                while True:
                    wire = _read_framed(conn)
                    if wire is None:
                        return
                    decision = decide(wire, self.pattern, self.answer)
                    if decision.action == "drop":
                        continue  # keep the connection open and silent: the client times out
                    reply = decision.wire
                    if decision.action == "forward":
                        if upstream is None or upstream == conn.getsockname()[:2]:
                            return
                        reply = self.forward_tcp(upstream, wire) or b""
                    if not reply:
                        return
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            pass
        finally:
            self.tcp_slots.release()

    @staticmethod
    def _original_tcp_destination(conn: socket.socket) -> Address | None:
        try:
            if conn.family == socket.AF_INET6:
                raw = conn.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
                port = struct.unpack("!H", raw[2:4])[0]
                return (socket.inet_ntop(socket.AF_INET6, raw[8:24]), port)
            raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            port = struct.unpack("!H", raw[2:4])[0]
            return (socket.inet_ntop(socket.AF_INET, raw[4:8]), port)
        except OSError:
            return resolv_conf_nameserver()

    def forward_tcp(self, upstream: Address, wire: bytes) -> bytes | None:
        family = socket.AF_INET6 if ":" in upstream[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, struct.pack("=I", self.mark))
            sock.settimeout(UPSTREAM_TIMEOUT)
            try:
                sock.connect(upstream)
                sock.sendall(struct.pack("!H", len(wire)) + wire)
                return _read_framed(sock)
            except OSError:
                return None


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_framed(sock: socket.socket) -> bytes | None:
    header = _read_exactly(sock, 2)
    if header is None:
        return None
    return _read_exactly(sock, struct.unpack("!H", header)[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m injector.dnsstub")
    parser.add_argument("--pattern", required=True)
    parser.add_argument("--answer", required=True, choices=ANSWERS)
    parser.add_argument("--mark", required=True, type=lambda text: int(text, 0))
    parser.add_argument("--ready", required=True, type=Path)
    args = parser.parse_args(argv)
    stub = Stub(args.pattern, args.answer, args.mark)
    pairs = stub.bind()
    info = {"port": stub.port, "families": stub.families, "pid": os.getpid()}
    tmp = args.ready.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, args.ready)  # atomic: the fault never reads half a file
    print(f"dnsstub listening on port {stub.port} ({', '.join(stub.families)})", flush=True)
    stub.serve(pairs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
