"""The lab's supervised process: a tiny worker restarted by a supervisor loop when it dies.

The kill and pause faults need a process whose death or stop is visible and whose recovery is
someone else's job, as under systemd. The supervisor (this module, run by the lab) starts the
worker under its own name (argv[0] and the kernel's comm both read e.g. "shop-worker", so
`pgrep -x shop-worker` finds it), writes the worker's pid file, and restarts it RESTART_DELAY_S
after it exits. The worker appends one line per tick to its heartbeat file: a paused worker
stops ticking, a killed one gets a new pid.

    python -m drills.lab.worker --name shop-worker --pid-file P --heartbeat H
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

RESTART_DELAY_S = 0.5
TICK_S = 0.2
PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1
COMM_MAX = 15  # the kernel keeps 15 bytes of a process name


def set_process_name(name: str) -> None:
    """Set the kernel's comm (what ps, pgrep and /proc/<pid>/comm show)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NAME, name.encode()[:COMM_MAX], 0, 0, 0)
        # The worker must not outlive its supervisor (lab down kills the supervisor).
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def work(name: str, heartbeat: Path) -> int:
    set_process_name(name)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tick = 0
    while True:
        tick += 1
        with heartbeat.open("a") as fh:
            fh.write(f"{os.getpid()} {tick} {time.time():.3f}\n")
        # Keep the file small: the newest lines are all anyone reads.
        if tick % 500 == 0:
            heartbeat.write_text("")
        time.sleep(TICK_S)


class Supervisor:
    def __init__(self, name: str, pid_file: Path, heartbeat: Path) -> None:
        self.name = name
        self.pid_file = pid_file
        self.heartbeat = heartbeat
        self.stopping = False
        self.child: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _spawn(self) -> None:
        # argv[0] is the worker's name; the interpreter is named explicitly.
        argv = [self.name, "-m", "drills.lab.worker", "--work", "--name", self.name]
        argv += ["--heartbeat", str(self.heartbeat)]
        self.child = subprocess.Popen(argv, executable=sys.executable)  # noqa: S603
        tmp = self.pid_file.with_name(f".{self.pid_file.name}.tmp")
        tmp.write_text(f"{self.child.pid}\n")
        os.replace(tmp, self.pid_file)
        print(f"supervisor: started {self.name} as pid {self.child.pid}", flush=True)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self._spawn()
        while not self.stopping:
            time.sleep(0.05)
            assert self.child is not None
            code = self.child.poll()
            if code is None:
                continue
            self.restarts += 1
            print(f"supervisor: {self.name} exited ({code}); restart #{self.restarts}", flush=True)
            self.pid_file.unlink(missing_ok=True)
            deadline = time.monotonic() + RESTART_DELAY_S
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(0.05)
            if not self.stopping:
                self._spawn()
        if self.child is not None and self.child.poll() is None:
            self.child.kill()  # also releases a paused (SIGSTOPped) worker
            self.child.wait(timeout=5)
        self.pid_file.unlink(missing_ok=True)
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drills.lab.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--heartbeat", type=Path, required=True)
    parser.add_argument("--pid-file", type=Path)
    parser.add_argument("--work", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.work:
        return work(args.name, args.heartbeat)
    if args.pid_file is None:
        parser.error("--pid-file is required for the supervisor")
    return Supervisor(args.name, args.pid_file, args.heartbeat).run()


if __name__ == "__main__":
    sys.exit(main())
