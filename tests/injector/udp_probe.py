"""Tiny UDP probe run inside a namespace by the tests (``ip netns exec NS python udp_probe.py``).

recv ADDR PORT TIMEOUT: bind, print "ready", then print "got" on the first datagram or "none".
send ADDR PORT COUNT:   send COUNT datagrams (a lost one is not retried: that is the point).
"""

from __future__ import annotations

import socket
import sys


def main(argv: list[str]) -> int:
    mode, addr, port = argv[0], argv[1], int(argv[2])
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        if mode == "recv":
            sock.bind((addr, port))
            sock.settimeout(float(argv[3]))
            print("ready", flush=True)
            try:
                sock.recvfrom(256)
            except TimeoutError:
                print("none", flush=True)
            else:
                print("got", flush=True)
            return 0
        for _ in range(int(argv[3])):
            try:
                sock.sendto(b"drillhall-probe", (addr, port))
            except PermissionError:
                pass  # a local output drop surfaces as EPERM: the datagram is lost, as meant
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
