"""Worker processes for the process-scoped collector tests: a known pid doing known work.

A worker is a long-lived child that the tests command over a socket pair, so a collector can
be compiled once per module, scoped to the worker's pid, and read around each piece of work.
Commands and replies use recv/send (recvfrom/sendto system calls), never read/write, so the
worker's own control traffic is not part of the read / write latency it is measured on; while
it waits for a command it sleeps in recv and is never woken.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_WORKER = """
import errno, json, os, socket, sys, time
sock = socket.socket(fileno=int(sys.argv[1]))

def reads(path, count):
    fd = os.open(path, os.O_RDONLY)
    times, errors = [], 0
    for _ in range(count):
        start = time.monotonic()
        try:
            os.pread(fd, 64, 0)
        except OSError:
            errors += 1
        times.append(time.monotonic() - start)
    os.close(fd)
    return {"times": times, "errors": errors}

def sleep_and_spin(cpu, seconds):
    # Wakes every ms and then wants the CPU for 2 ms: a task that queues behind a hog.
    os.sched_setaffinity(0, {cpu})
    end = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < end:
        time.sleep(0.001)
        busy = time.monotonic()
        while time.monotonic() - busy < 0.002:
            pass
        rounds += 1
    return {"rounds": rounds}

sock.sendall(b"ready")  # after the imports: a child's start-up reads are not its work
while True:
    data = sock.recv(65536)
    if not data:
        break
    cmd = json.loads(data)
    if cmd["op"] == "reads":
        reply = reads(cmd["path"], cmd["count"])
    else:
        reply = sleep_and_spin(cmd["cpu"], cmd["seconds"])
    sock.sendall(json.dumps(reply).encode())
"""

MAX_REPLY = 1 << 20


class Worker:
    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self._sock = ours
        self._proc = subprocess.Popen(  # noqa: S603 (fixed argv)
            [sys.executable, "-c", _WORKER, str(theirs.fileno())], pass_fds=[theirs.fileno()]
        )
        theirs.close()
        self._sock.settimeout(60)
        # Started and imported before any test scopes a collector to it: a collector that
        # attaches at once (a kept program) would count the interpreter's start-up reads.
        if self._sock.recv(16) != b"ready":
            raise RuntimeError("the worker process did not start")
        self._wait_asleep()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _call(self, **cmd: Any) -> dict[str, Any]:
        self._sock.sendall(json.dumps(cmd).encode())
        reply: dict[str, Any] = json.loads(self._sock.recv(MAX_REPLY))
        self._wait_asleep()
        return reply

    def _wait_asleep(self, timeout: float = 2.0) -> None:
        # The reply leaves before the worker is back in recv: let it get there, so its last
        # moments on the CPU fall in the interval of the work and not in the next one.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            if stat[stat.rindex(")") + 2] == "S":
                return
            time.sleep(0.001)

    def reads(self, path: str, count: int) -> dict[str, Any]:
        """`count` preads of 64 bytes at offset 0: {"times": [s, ...], "errors": n}."""
        return self._call(op="reads", path=path, count=count)

    def sleep_and_spin(self, cpu: int, seconds: float) -> int:
        """Sleep 1 ms / spin 2 ms rounds pinned to cpu for `seconds`; the number of rounds."""
        return int(self._call(op="sleep_and_spin", cpu=cpu, seconds=seconds)["rounds"])

    def stop(self) -> None:
        self._sock.close()  # the worker's recv returns b"" and it exits
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


HOGS = 8  # against a shared machine's background load, which can be several tasks per CPU
_HOG = """
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    pass
"""


@contextmanager
def cpu_hogs(cpu: int, seconds: float, count: int = HOGS) -> Iterator[list[int]]:
    """`count` busy loops pinned to cpu that stop by themselves after `seconds`; their pids.

    Several, so that the crowd they add stands out against whatever else the shared
    machine runs on that CPU."""
    argv = [sys.executable, "-c", _HOG, str(cpu), str(seconds)]
    procs = [subprocess.Popen(argv) for _ in range(count)]  # noqa: S603 (fixed argv)
    try:
        yield [proc.pid for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def last_cpu() -> int:
    """The CPU the runqueue tests crowd: the highest one this process may use."""
    return max(os.sched_getaffinity(0))
