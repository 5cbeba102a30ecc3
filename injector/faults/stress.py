"""stress.cpu and stress.memory: bounded load from child processes in the target's namespace.

stress-ng (Debian) when it is installed, else the built-in workers of ``injector.stress_worker``;
either runs as one detached child (with its workers in the same process group) started by
``injector.children.spawn``, so revert, or a janitor in another process, stops the whole group
from the pid file in the workdir.

Bounds: cores are capped at the machine's, memory is refused above half of MemAvailable at
apply time, and every child stops by itself after ``HARD_LIMIT_SECONDS`` should every revert
fail. cgroup placement is not done: the load is accounted to whatever cgroup the agent is in.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from injector import children
from injector.faults.fault import Fault, FaultError
from injector.protocol import FaultSpec

# Last-resort bound in time (leases and the janitor stop the children long before).
HARD_LIMIT_SECONDS = 6 * 3600
MAX_CORES = 64
MAX_BYTES = 64 * 1024**3
MEMORY_SHARE_CAP = 0.5  # of MemAvailable
START_CHECK = 0.3  # seconds a child must survive to count as started
MEMINFO = Path("/proc/meminfo")


def stress_ng_path() -> str | None:
    return shutil.which("stress-ng")


def mem_available() -> int:
    """MemAvailable in bytes."""
    for line in MEMINFO.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise FaultError("cannot read MemAvailable from /proc/meminfo")


def _check_unknown(kind: str, params: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(params) - allowed - {"host"}
    if unknown:
        raise FaultError(f"{kind}: unknown params {sorted(unknown)}", True)


class _StressFault(Fault):
    child: str

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        self.stress_ng = stress_ng_path()

    def argv(self) -> list[str]:
        raise NotImplementedError

    def mechanism(self) -> str:
        return "stress-ng" if self.stress_ng else "builtin"

    def _plan(self, **extra: Any) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fault_id": self.fault_id,
            "mechanism": self.mechanism(),
            "netns": self.netns,
            **extra,
            "time_limit_seconds": HARD_LIMIT_SECONDS,
            "artifacts": [f"child process group {self.child} ({self.workdir / self.child}.pid)"],
            "argv": self.argv(),
        }

    def _check(self) -> None:
        """Refuse what cannot be applied here (raise a permanent FaultError)."""

    def apply(self) -> None:
        if children.alive(self.workdir, self.child):
            return
        self.require_netns()
        self._check()
        children.spawn(self.workdir, self.child, self.argv(), netns=self.netns)
        time.sleep(START_CHECK)
        if not children.alive(self.workdir, self.child):
            log = self._log_tail()
            children.stop(self.workdir, self.child)
            raise FaultError(f"{self.kind}: the stress process exited at once: {log}")

    def _log_tail(self) -> str:
        try:
            return (self.workdir / f"{self.child}.log").read_text()[-500:].strip() or "no output"
        except OSError:
            return "no log"

    def revert(self) -> None:
        if not children.stop(self.workdir, self.child):
            raise FaultError(f"{self.kind}: the stress processes did not stop")

    def is_active(self) -> bool:
        return children.alive(self.workdir, self.child)


class StressCpuFault(_StressFault):
    kind = "stress.cpu"
    child = "stress-cpu"

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        params = spec.params
        _check_unknown(self.kind, params, {"cores", "load"})
        cores = params.get("cores")
        if not isinstance(cores, int) or isinstance(cores, bool) or not 1 <= cores <= MAX_CORES:
            raise FaultError(f"{self.kind}: cores must be an integer 1..{MAX_CORES}", True)
        load = params.get("load", 100.0)
        if (
            not isinstance(load, int | float)
            or isinstance(load, bool)
            or not math.isfinite(load)
            or not 0 < load <= 100
        ):
            raise FaultError(f"{self.kind}: load must be a percentage in (0, 100]", True)
        self.requested_cores = cores
        self.cores = min(cores, os.cpu_count() or 1)
        self.load = float(load)

    def plan(self) -> dict[str, Any]:
        return self._plan(cores=self.cores, requested_cores=self.requested_cores, load=self.load)

    def argv(self) -> list[str]:
        if self.stress_ng:
            return [self.stress_ng, "--cpu", str(self.cores),
                    "--cpu-load", str(max(1, round(self.load))),
                    "--timeout", f"{HARD_LIMIT_SECONDS}s"]  # fmt: skip
        return [sys.executable, "-m", "injector.stress_worker", "cpu", "--workers", str(self.cores),
                "--load", repr(self.load), "--seconds", str(HARD_LIMIT_SECONDS)]  # fmt: skip


class StressMemoryFault(_StressFault):
    kind = "stress.memory"
    child = "stress-memory"

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        params = spec.params
        _check_unknown(self.kind, params, {"bytes"})
        size = params.get("bytes")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_BYTES:
            raise FaultError(f"{self.kind}: bytes must be an integer 1..{MAX_BYTES}", True)
        self.bytes = size

    def plan(self) -> dict[str, Any]:
        return self._plan(bytes=self.bytes, cap=f"{MEMORY_SHARE_CAP:.0%} of MemAvailable")

    def _check(self) -> None:
        cap = int(mem_available() * MEMORY_SHARE_CAP)
        if self.bytes > cap:
            raise FaultError(
                f"{self.kind}: {self.bytes} bytes is more than {MEMORY_SHARE_CAP:.0%} of "
                f"MemAvailable ({cap} bytes); refusing",
                True,
            )

    def argv(self) -> list[str]:
        if self.stress_ng:
            # One vm worker that dirties the whole block once, then holds it (--vm-hang 0).
            return [self.stress_ng, "--vm", "1", "--vm-bytes", str(self.bytes),
                    "--vm-keep", "--vm-hang", "0",
                    "--timeout", f"{HARD_LIMIT_SECONDS}s"]  # fmt: skip
        return [sys.executable, "-m", "injector.stress_worker", "memory",
                "--bytes", str(self.bytes), "--seconds", str(HARD_LIMIT_SECONDS)]  # fmt: skip
