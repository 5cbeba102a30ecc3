"""Where a redirected connection was going, and upstream sockets that bypass the redirect."""

from __future__ import annotations

import socket
import struct

# From <linux/netfilter_ipv4.h>: the conntrack lookup of a NATed connection's destination.
SO_ORIGINAL_DST = 80
# Not exported by Python's socket module on every build.
SO_MARK = getattr(socket, "SO_MARK", 36)
# The packet mark every proxy sets on its upstream sockets; redirect rules return early for
# it, so the proxy's own connections are never redirected back into the proxy.
PROXY_MARK = 0x4448


def original_destination(sock: socket.socket) -> tuple[str, int]:
    """The (address, port) the client dialled before nftables redirected it (IPv4 only)."""
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack_from("!2xH4s", raw)
    return socket.inet_ntoa(packed), port


def upstream_socket() -> socket.socket:
    """A non-blocking TCP socket whose packets carry PROXY_MARK."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, SO_MARK, PROXY_MARK)
    sock.setblocking(False)
    return sock
