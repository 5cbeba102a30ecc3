"""A loop device over a small file, and O_DIRECT reads from it: real block requests on a
device nobody else uses, whatever the machine's disks are doing."""

from __future__ import annotations

import mmap
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import have_root, require, run

IMAGE_BYTES = 4 << 20
BLOCK = 4096


@contextmanager
def loop_device(directory: Path) -> Iterator[str]:
    """A loop device over a 4 MiB sparse file in directory; detached afterwards."""
    require(have_root(), "needs root (loop devices)")
    require(shutil.which("losetup") is not None, "needs losetup (util-linux)")
    image = directory / "loop.img"
    with image.open("wb") as f:
        f.truncate(IMAGE_BYTES)
    device = run(["losetup", "--find", "--show", str(image)]).stdout.strip()
    try:
        yield device
    finally:
        run(["losetup", "-d", device], check=False)


def direct_reads(device: str, count: int) -> None:
    """`count` 4 KiB O_DIRECT reads at distinct offsets: each one a block request."""
    buf = mmap.mmap(-1, BLOCK)  # page-aligned, as O_DIRECT requires
    fd = os.open(device, os.O_RDONLY | os.O_DIRECT)
    try:
        for i in range(count):
            os.preadv(fd, [buf], (i * BLOCK) % IMAGE_BYTES)
    finally:
        os.close(fd)
        buf.close()
