"""A client namespace and a resolver namespace running dnsmasq, for the network.dns tests.

The resolver answers two zones: every name under shop.internal is 10.1.2.3 and every name
under example.test is 10.4.5.6. The client asks it with dig, an independent client.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import require, run
from tests.injector.netlab import NetPair

ZONES = {"shop.internal": "10.1.2.3", "example.test": "10.4.5.6"}
_STATUS = re.compile(r"status: ([A-Z]+)")


@dataclass(frozen=True)
class DigResult:
    status: str  # NOERROR, SERVFAIL, NXDOMAIN, ... or TIMEOUT when nothing came back
    addresses: tuple[str, ...]


@dataclass
class DnsLab:
    pair: NetPair
    server: subprocess.Popen[bytes]

    @property
    def client(self) -> str:
        return self.pair.a

    @property
    def resolver(self) -> str:
        return self.pair.addr_b

    def dig(self, name: str, *, tcp: bool = False, wait: float = 1.0) -> DigResult:
        """One query from the client namespace to the resolver's address, one try only."""
        argv = ["ip", "netns", "exec", self.client, "dig", f"@{self.resolver}", name, "A",
                f"+time={int(wait)}", "+tries=1", "+noall", "+comments", "+answer"]  # fmt: skip
        if tcp:
            argv.append("+tcp")
        out = run(argv, timeout=wait + 5, check=False).stdout
        status = _STATUS.search(out)
        if status is None:
            return DigResult("TIMEOUT", ())
        addresses = tuple(
            line.split()[-1] for line in out.splitlines() if line and not line.startswith(";")
        )
        return DigResult(status.group(1), addresses)


def start_dnsmasq(pair: NetPair) -> subprocess.Popen[bytes]:
    argv = ["ip", "netns", "exec", pair.b, "dnsmasq", "--keep-in-foreground",
            "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--user=root",
            "--pid-file", "--bind-interfaces", f"--listen-address={pair.addr_b}",
            *(f"--address=/{zone}/{address}" for zone, address in ZONES.items())]  # fmt: skip
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        probe = ["ip", "netns", "exec", pair.a, "dig", f"@{pair.addr_b}", "probe.example.test",
                 "+time=1", "+tries=1", "+short"]  # fmt: skip
        if server.poll() is None and run(probe, check=False).stdout.strip():
            return server
        if server.poll() is not None:
            break
        time.sleep(0.05)
    server.kill()
    _, err = server.communicate(timeout=5)
    raise RuntimeError(f"dnsmasq did not come up: {err.decode(errors='replace')}")


@pytest.fixture
def dns_lab(netpair: NetPair) -> Iterator[DnsLab]:
    require(shutil.which("dnsmasq") is not None, "needs dnsmasq (apt-get install dnsmasq-base)")
    require(shutil.which("dig") is not None, "needs dig (apt-get install dnsutils)")
    server = start_dnsmasq(netpair)
    try:
        yield DnsLab(netpair, server)
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
