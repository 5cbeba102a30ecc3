"""io.delay and io.error: a FUSE passthrough layer mounted over a directory.

The Chaos Mesh IOChaos approach: ``python -m injector.fusefs`` opens the directory, mounts a
FUSE file system on top of it and serves every call from the original through that
descriptor, sleeping or failing a share of the read / write / fsync calls. Applications keep
their path and see the fault; reverting is unmounting (``fusermount3 -u``, lazily when busy)
and stopping the child.

Mounts live in the host's mount namespace, which the lab hosts share: the agent's network
namespace plays no part in an IO fault (and the child must NOT run under ``ip netns exec``,
which gives it a private mount namespace where nobody would see the mount).

Everything revert needs is deterministic or in the workdir: the mount's source name is
``drillhall-<fault id>``, the mount point is recorded in ``mount.json`` before mounting, and
the child's pid file is written by ``injector.children``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from injector import children
from injector.commands import CommandError, run_command
from injector.faults.fault import Fault, FaultError
from injector.fusefs import ERRORS, OPERATIONS
from injector.protocol import FaultSpec

CHILD = "fusefs"
MOUNT_RECORD = "mount.json"
FSNAME_PREFIX = "drillhall-"
MOUNT_WAIT = 10.0
FUSERMOUNT_TIMEOUT = 10.0
MAX_DELAY = 3600.0
MOUNTINFO = Path("/proc/self/mountinfo")
# The kernel's own file systems: a FUSE layer there would stand between every process (this
# agent included) and the kernel's view of processes and devices.
KERNEL_FILESYSTEMS = ("/proc", "/sys", "/dev")


def under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fstype: str
    source: str


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts() -> list[Mount]:
    """Mounts of this process's mount namespace, in mount order (later ones stack on top)."""
    found = []
    for line in MOUNTINFO.read_text().splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 2:
            continue
        found.append(Mount(_unescape(fields[4]), tail[0], _unescape(tail[1])))
    return found


def mounts_at(mount_point: str) -> list[Mount]:
    return [m for m in mounts() if m.mount_point == mount_point]


def _number(params: dict[str, Any], name: str, low: float, high: float, default: Any) -> float:
    value = params.get(name, default)
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not low < value <= high
    ):
        raise FaultError(f"{name} must be a number in ({low:g}, {high:g}], got {value!r}", True)
    return float(value)


@dataclass(frozen=True)
class IoParams:
    path: str
    share: float
    operations: tuple[str, ...]
    delay: float = 0.0
    error: str = ""

    @classmethod
    def parse(cls, kind: str, params: dict[str, Any]) -> IoParams:
        allowed = {"host", "path", "share", "operations"} | (
            {"delay"} if kind == "io.delay" else {"error"}
        )
        unknown = set(params) - allowed
        if unknown:
            raise FaultError(f"{kind}: unknown params {sorted(unknown)}", True)
        path = params.get("path")
        if not isinstance(path, str) or not os.path.isabs(path) or "\0" in path:
            raise FaultError(f"{kind}: path must be an absolute directory path, got {path!r}", True)
        path = os.path.normpath(path)
        if path == "/" or path.startswith("//"):
            raise FaultError(f"{kind}: refusing to mount over {path!r}", True)
        if any(under(path, top) for top in KERNEL_FILESYSTEMS):
            raise FaultError(
                f"{kind}: {path} is in one of the kernel's file systems "
                f"({', '.join(KERNEL_FILESYSTEMS)}); name an application's directory",
                True,
            )
        ops = params.get("operations", list(OPERATIONS))
        if (
            not isinstance(ops, list)
            or not ops
            or not all(isinstance(op, str) and op in OPERATIONS for op in ops)
        ):
            raise FaultError(f"{kind}: operations must be a non-empty list of {OPERATIONS}", True)
        try:
            share = _number(params, "share", 0.0, 100.0, 100.0)
            delay = _number(params, "delay", 0.0, MAX_DELAY, None) if kind == "io.delay" else 0.0
        except FaultError as exc:
            raise FaultError(f"{kind}: {exc}", True) from None
        error = ""
        if kind == "io.error":
            error = params.get("error", "EIO")
            if error not in ERRORS:
                raise FaultError(f"{kind}: error must be one of {sorted(ERRORS)}", True)
        return cls(path, share, tuple(dict.fromkeys(ops)), delay, error)


class _IoFault(Fault):
    """The FUSE layer shared by io.delay and io.error."""

    def __init__(self, spec: FaultSpec, netns: str | None = None) -> None:
        super().__init__(spec, netns)
        self.params = IoParams.parse(self.kind, spec.params)

    @property
    def fsname(self) -> str:
        return f"{FSNAME_PREFIX}{self.fault_id}"

    def child_argv(self, mount_point: str) -> list[str]:
        p = self.params
        argv = [sys.executable, "-m", "injector.fusefs", "--root", mount_point,
                "--fsname", self.fsname, "--ops", ",".join(p.operations),
                "--share", repr(p.share)]  # fmt: skip
        if self.kind == "io.delay":
            return [*argv, "--delay", repr(p.delay)]
        return [*argv, "--error", p.error]

    def plan(self) -> dict[str, Any]:
        p = self.params
        effect = {"delay": p.delay} if self.kind == "io.delay" else {"error": p.error}
        return {
            "kind": self.kind,
            "fault_id": self.fault_id,
            "mechanism": "fuse",
            "path": p.path,
            "share": p.share,
            "operations": list(p.operations),
            **effect,
            "netns": None,  # a mount is host-wide: the agent's network namespace is irrelevant
            "artifacts": [
                f"FUSE mount {self.fsname} on {p.path}",
                f"child process {CHILD} ({self.workdir / (CHILD + '.pid')})",
            ],
            "argv": self.child_argv(p.path),
        }

    # -- state --
    def _mount_point(self) -> str:
        try:
            recorded = json.loads((self.workdir / MOUNT_RECORD).read_text())["mount_point"]
            if isinstance(recorded, str):
                return recorded
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return os.path.realpath(self.params.path)

    def _ours(self, mount_point: str) -> list[Mount]:
        return [m for m in mounts_at(mount_point) if m.source == self.fsname]

    def is_active(self) -> bool:
        return bool(self._ours(self._mount_point()))

    # -- apply --
    def apply(self) -> None:
        mount_point = os.path.realpath(self.params.path)
        if mount_point == "/" or not os.path.isdir(mount_point):
            raise FaultError(f"{self.kind}: {self.params.path} is not an existing directory", True)
        state = os.path.realpath(self.workdir.parents[1])
        if under(mount_point, state) or under(state, mount_point):
            # Faults over the agent's own ledger and records: it could no longer revert them.
            raise FaultError(
                f"{self.kind}: {mount_point} holds the agent's state ({state}); refusing to "
                "mount over it",
                True,
            )
        if any(under(mount_point, top) for top in KERNEL_FILESYSTEMS):
            # Reached through a symlink: the path given was checked before it was resolved.
            raise FaultError(f"{self.kind}: {mount_point} is in a kernel file system", True)
        stacked = mounts_at(mount_point)
        others = [
            m for m in stacked if m.source.startswith(FSNAME_PREFIX) and m.source != self.fsname
        ]
        if others:
            raise FaultError(
                f"{self.kind}: {mount_point} already carries another fault ({others[-1].source})",
                True,
            )
        if self._ours(mount_point):
            if children.alive(self.workdir, CHILD):
                return  # applied already
            self.revert()  # a mount whose server died: start again from clean
        # Recorded before mounting so a janitor finds the mount even if we die right after.
        self.workdir.mkdir(parents=True, exist_ok=True)
        record = self.workdir / MOUNT_RECORD
        record.with_suffix(".tmp").write_text(json.dumps({"mount_point": mount_point}))
        os.replace(record.with_suffix(".tmp"), record)
        # No netns: ``ip netns exec`` would put the mount in a private mount namespace.
        children.spawn(self.workdir, CHILD, self.child_argv(mount_point))
        deadline = time.monotonic() + MOUNT_WAIT
        while time.monotonic() < deadline:
            if self._ours(mount_point):
                return
            if not children.alive(self.workdir, CHILD):
                break
            time.sleep(0.02)
        log = self._log_tail()
        self.revert()
        raise FaultError(f"{self.kind}: the FUSE layer did not mount on {mount_point}: {log}")

    def _log_tail(self) -> str:
        try:
            return (self.workdir / f"{CHILD}.log").read_text()[-500:].strip() or "no output"
        except OSError:
            return "no log"

    # -- revert --
    def revert(self) -> None:
        mount_point = self._mount_point()
        for _ in range(4):  # bounded: one of ours per attempt, a stale one may sit below
            ours = self._ours(mount_point)
            if not ours:
                break
            top = mounts_at(mount_point)[-1]
            if top.source != self.fsname:
                raise FaultError(
                    f"{self.kind}: {mount_point} has {top.source} mounted over our FUSE layer; "
                    "not unmounting someone else's file system"
                )
            self._unmount(mount_point)
        if not children.stop(self.workdir, CHILD):
            raise FaultError(f"{self.kind}: the FUSE server for {mount_point} did not stop")
        if self._ours(mount_point):
            raise FaultError(f"{self.kind}: {mount_point} is still mounted")
        (self.workdir / MOUNT_RECORD).unlink(missing_ok=True)

    def _unmount(self, mount_point: str) -> None:
        try:
            run_command(["fusermount3", "-u", mount_point], timeout=FUSERMOUNT_TIMEOUT)
            return
        except CommandError as exc:
            first = exc
        # Busy (an open file, a cwd inside): detach now, the kernel drops it when released.
        try:
            run_command(["fusermount3", "-uz", mount_point], timeout=FUSERMOUNT_TIMEOUT)
        except CommandError as exc:
            raise FaultError(f"{self.kind}: cannot unmount {mount_point}: {first}; {exc}") from exc


class IoDelayFault(_IoFault):
    kind = "io.delay"


class IoErrorFault(_IoFault):
    kind = "io.error"
