"""Two network namespaces joined by a veth pair, built and torn down by the tests."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import run

PROBE = Path(__file__).with_name("udp_probe.py")
_counter = itertools.count(1)


@dataclass(frozen=True)
class NetPair:
    a: str
    b: str
    addr_a: str = "198.18.0.1"
    addr_b: str = "198.18.0.2"

    @classmethod
    def create(cls) -> NetPair:
        n = next(_counter)
        pair = cls(a=f"dht-{os.getpid()}-{n}-a", b=f"dht-{os.getpid()}-{n}-b")
        try:
            run(["ip", "netns", "add", pair.a])
            run(["ip", "netns", "add", pair.b])
            run(["ip", "link", "add", "veth0", "netns", pair.a,
                 "type", "veth", "peer", "name", "veth0", "netns", pair.b])  # fmt: skip
            for ns, addr in ((pair.a, pair.addr_a), (pair.b, pair.addr_b)):
                run(["ip", "-n", ns, "addr", "add", f"{addr}/30", "dev", "veth0"])
                run(["ip", "-n", ns, "link", "set", "veth0", "up"])
                run(["ip", "-n", ns, "link", "set", "lo", "up"])
        except Exception:
            pair.destroy()
            raise
        return pair

    def destroy(self) -> None:
        # Deleting a namespace removes its veth end and every nft table in it.
        for ns in (self.a, self.b):
            run(["ip", "netns", "del", ns], check=False)

    def address(self, ns: str) -> str:
        return self.addr_a if ns == self.a else self.addr_b

    def ping(self, src: str, dst: str, wait: float = 1.0) -> bool:
        """One echo request from namespace src to namespace dst: True when the reply came."""
        argv = ["ip", "netns", "exec", src, "ping", "-c1", "-q", f"-W{wait}", self.address(dst)]
        return run(argv, check=False).returncode == 0

    def udp_delivered(self, src: str, dst: str, port: int = 40000, wait: float = 0.5) -> bool:
        """Whether a UDP datagram sent from src reaches a socket in dst (one direction only)."""
        receiver = subprocess.Popen(  # noqa: S603
            ["ip", "netns", "exec", dst, sys.executable, str(PROBE),
             "recv", self.address(dst), str(port), str(wait)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert receiver.stdout is not None
            assert receiver.stdout.readline().strip() == "ready"
            run(["ip", "netns", "exec", src, sys.executable, str(PROBE),
                 "send", self.address(dst), str(port), "3"])  # fmt: skip
            out, _ = receiver.communicate(timeout=wait + 5)
        finally:
            if receiver.poll() is None:
                receiver.kill()
                receiver.wait()
        return out.strip() == "got"

    def nft_tables(self, ns: str) -> list[str]:
        out = run(["ip", "netns", "exec", ns, "nft", "list", "tables"]).stdout
        return [line.split()[-1] for line in out.splitlines() if line.startswith("table")]
