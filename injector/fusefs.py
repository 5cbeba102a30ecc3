"""A FUSE passthrough file system mounted over a directory, delaying or failing some calls.

Run as a detached child by ``injector.faults.io``::

    python -m injector.fusefs --root DIR --fsname NAME --ops read,write \
        (--delay SECONDS | --error EIO|ENOSPC) --share PERCENT

It opens DIR *before* mounting on top of it, then serves every operation from the original
directory through that descriptor with ``*at()`` calls: the application keeps its path and
sees the fault, and the file system never walks into its own mount (which would deadlock).
``direct_io`` is set so the kernel page cache cannot answer reads without asking us.
It stays in the foreground until unmounted (``fusermount3 -u``), then exits.
"""

from __future__ import annotations

import argparse
import errno
import os
import random
import sys
import time
from dataclasses import dataclass
from typing import Any

OPERATIONS = ("read", "write", "fsync")
ERRORS = {"EIO": errno.EIO, "ENOSPC": errno.ENOSPC}
_STAT_FIELDS = (
    "st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size",
    "st_atime_ns", "st_mtime_ns", "st_ctime_ns", "st_blocks", "st_blksize", "st_rdev",
)  # fmt: skip


@dataclass(frozen=True)
class Injection:
    """What to do to a share of the matching operations."""

    operations: frozenset[str]
    share: float  # percent, 0..100
    delay: float = 0.0  # seconds
    error: int = 0  # an errno, 0 for none

    def hit(self, operation: str) -> None:
        """Apply the fault to this call (sleep or raise) when it is one of the share."""
        if operation not in self.operations or random.random() * 100.0 >= self.share:  # noqa: S311
            return
        if self.delay > 0:
            time.sleep(self.delay)
        if self.error:
            raise OSError(self.error, os.strerror(self.error))


def _rel(path: str) -> str:
    # FUSE paths are absolute within the mount; relative ones resolve against the root fd.
    stripped = path.lstrip("/")
    return stripped or "."


def build_operations(root_fd: int, injection: Injection) -> Any:
    """The passthrough operations over root_fd (mfusepy imported here: it loads libfuse)."""
    import mfusepy

    class Passthrough(mfusepy.Operations):  # type: ignore[misc]
        use_ns = True

        def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
            st = (
                os.fstat(fh)
                if fh is not None
                else os.stat(_rel(path), dir_fd=root_fd, follow_symlinks=False)
            )
            attrs = {name: getattr(st, name) for name in _STAT_FIELDS}
            for name in ("st_atime", "st_mtime", "st_ctime"):
                attrs[name] = attrs.pop(f"{name}_ns")
            return attrs

        def readdir(self, path: str, fh: int) -> list[str]:
            fd = os.open(_rel(path), os.O_RDONLY | os.O_DIRECTORY, dir_fd=root_fd)
            try:
                return [".", "..", *os.listdir(fd)]
            finally:
                os.close(fd)

        def open(self, path: str, flags: int) -> int:
            # O_DIRECT is the kernel's business on the FUSE side; the backing fs may refuse it.
            return os.open(_rel(path), flags & ~os.O_DIRECT, dir_fd=root_fd)

        def create(self, path: str, mode: int, flags: int = os.O_WRONLY) -> int:
            flags = (flags & ~os.O_DIRECT) | os.O_CREAT
            return os.open(_rel(path), flags, mode, dir_fd=root_fd)

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            injection.hit("read")
            return os.pread(fh, size, offset)

        def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
            injection.hit("write")
            return os.pwrite(fh, data, offset)

        def fsync(self, path: str, datasync: int, fh: int) -> int:
            injection.hit("fsync")
            (os.fdatasync if datasync else os.fsync)(fh)
            return 0

        def flush(self, path: str, fh: int) -> int:
            return 0

        def release(self, path: str, fh: int) -> int:
            os.close(fh)
            return 0

        def truncate(self, path: str, length: int, fh: int | None = None) -> int:
            if fh is not None:
                os.ftruncate(fh, length)
                return 0
            fd = os.open(_rel(path), os.O_WRONLY, dir_fd=root_fd)
            try:
                os.ftruncate(fd, length)
            finally:
                os.close(fd)
            return 0

        def unlink(self, path: str) -> int:
            os.unlink(_rel(path), dir_fd=root_fd)
            return 0

        def mkdir(self, path: str, mode: int) -> int:
            os.mkdir(_rel(path), mode, dir_fd=root_fd)
            return 0

        def rmdir(self, path: str) -> int:
            os.rmdir(_rel(path), dir_fd=root_fd)
            return 0

        def rename(self, old: str, new: str) -> int:
            os.rename(_rel(old), _rel(new), src_dir_fd=root_fd, dst_dir_fd=root_fd)
            return 0

        def chmod(self, path: str, mode: int) -> int:
            os.chmod(_rel(path), mode, dir_fd=root_fd)
            return 0

        def chown(self, path: str, uid: int, gid: int) -> int:
            os.chown(_rel(path), uid, gid, dir_fd=root_fd, follow_symlinks=False)
            return 0

        def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
            if times is None:
                os.utime(_rel(path), dir_fd=root_fd, follow_symlinks=False)
            else:
                os.utime(_rel(path), ns=times, dir_fd=root_fd, follow_symlinks=False)
            return 0

        def readlink(self, path: str) -> str:
            return os.readlink(_rel(path), dir_fd=root_fd)

        def symlink(self, target: str, source: str) -> int:
            # mfusepy: target is the new link's path, source what it points to.
            os.symlink(source, _rel(target), dir_fd=root_fd)
            return 0

        def link(self, target: str, source: str) -> int:
            os.link(_rel(source), _rel(target), src_dir_fd=root_fd, dst_dir_fd=root_fd)
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            sv = os.statvfs(root_fd)
            names = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree",
                     "f_files", "f_flag", "f_frsize", "f_namemax")  # fmt: skip
            return {name: getattr(sv, name) for name in names}

    return Passthrough()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m injector.fusefs")
    parser.add_argument("--root", required=True, help="the directory to mount over")
    parser.add_argument("--fsname", required=True, help="source name shown in mountinfo")
    parser.add_argument("--ops", required=True, help="comma-separated: read,write,fsync")
    parser.add_argument("--share", type=float, required=True, help="percent of matching calls")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--delay", type=float, help="seconds to sleep in a faulted call")
    group.add_argument("--error", choices=sorted(ERRORS), help="errno a faulted call returns")
    args = parser.parse_args(argv)
    ops = [op for op in args.ops.split(",") if op]
    if not ops or not set(ops) <= set(OPERATIONS):
        parser.error(f"--ops must be a subset of {OPERATIONS}")
    if not 0 <= args.share <= 100:
        parser.error("--share must be within 0..100")
    if args.delay is not None and not 0 < args.delay <= 3600:
        parser.error("--delay must be within (0, 3600] seconds")
    args.ops = frozenset(ops)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    injection = Injection(
        operations=args.ops,
        share=args.share,
        delay=args.delay or 0.0,
        error=ERRORS[args.error] if args.error else 0,
    )
    root_fd = os.open(args.root, os.O_RDONLY | os.O_DIRECTORY)
    import mfusepy

    mfusepy.FUSE(
        build_operations(root_fd, injection),
        args.root,
        foreground=True,
        fsname=args.fsname,
        subtype="drillhall",
        # Other users' services live in the directory too; the kernel still checks modes.
        allow_other=True,
        default_permissions=True,
        direct_io=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
