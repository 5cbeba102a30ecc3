"""Built-in stress workers, for hosts without stress-ng.

Run as a detached child by ``injector.faults.stress``::

    python -m injector.stress_worker cpu --workers N --load PERCENT --seconds T
    python -m injector.stress_worker memory --bytes B --seconds T

Both stop by themselves after T seconds (a last-resort bound; revert stops them earlier).
CPU workers are forked processes in the same process group, so one ``killpg`` stops them all;
each also exits when its parent goes away. Below 100 % a worker is duty-cycled: busy for
``load`` percent of every 100 ms period, asleep for the rest.
"""

from __future__ import annotations

import argparse
import mmap
import os
import sys
import time

PERIOD = 0.1
PAGE = mmap.PAGESIZE


def burn(load: float, deadline: float, parent: int) -> None:
    """Keep one core busy for load percent of each period until deadline or orphaned."""
    busy = PERIOD * load / 100.0
    while time.monotonic() < deadline and os.getppid() == parent:
        start = time.monotonic()
        while time.monotonic() - start < busy:
            pass
        rest = PERIOD - (time.monotonic() - start)
        if rest > 0:
            time.sleep(rest)


def cpu(workers: int, load: float, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    me = os.getpid()
    pids = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            try:
                burn(load, deadline, me)
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    return 0


def memory(size: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    # If the host runs short anyway, the OOM killer should take this process first.
    try:
        with open("/proc/self/oom_score_adj", "w") as adj:
            adj.write("1000")
    except OSError:
        pass
    # Anonymous memory only becomes resident when written: touch every page.
    block = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for offset in range(0, size, PAGE):
        block[offset] = 1
    print(f"holding {size} bytes", flush=True)
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 1.0))
    block.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m injector.stress_worker")
    sub = parser.add_subparsers(dest="what", required=True)
    p_cpu = sub.add_parser("cpu")
    p_cpu.add_argument("--workers", type=int, required=True)
    p_cpu.add_argument("--load", type=float, default=100.0)
    p_cpu.add_argument("--seconds", type=float, required=True)
    p_mem = sub.add_parser("memory")
    p_mem.add_argument("--bytes", type=int, required=True)
    p_mem.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    if args.what == "cpu":
        if not 1 <= args.workers <= (os.cpu_count() or 1) or not 0 < args.load <= 100:
            parser.error("--workers must be 1..cores and --load within (0, 100]")
        return cpu(args.workers, args.load, args.seconds)
    if args.bytes <= 0:
        parser.error("--bytes must be positive")
    return memory(args.bytes, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
