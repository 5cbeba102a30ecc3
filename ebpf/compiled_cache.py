"""Compiled eBPF programs kept on disk, so that a fresh agent does not wait for clang.

Compiling a collector's program with bcc takes half a second or more of CPU per program
(docs/performance.md), and an agent that has just started (the first `drillhall run` on a
machine, every agent a test starts) compiles each of its collectors before a run's baseline.
What the compiler produces depends only on the program's text, its cflags, the kernel and
bcc, so it is kept: the compiler child (``ebpf.compile_child``) also answers with the program's
*image* (each function's instructions, the maps they use and where each is referenced), and
``ebpf.loaded_program.load`` writes it here. A later load with the same key creates like maps,
writes their descriptors into the instructions and loads them with plain bpf() calls, through
the kernel's verifier as always.

The files hold only compiler output, never anything a playbook said, and are loaded into the
kernel by root: the directory and each file must belong to this user and be writable by no one
else, or they are not read. A file that cannot be used (a foreign owner, bad JSON, a program
the kernel refuses) is a miss: the program is compiled as before and the file replaced.

``DRILLHALL_BPF_CACHE`` names the directory (default ``var/cache/bpf`` in the checkout), or
``off``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import stat
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ebpf import bpf_syscalls

log = logging.getLogger(__name__)

FORMAT = 1
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "var" / "cache" / "bpf"
BCC_VERSION_FILE = Path("/usr/lib/python3/dist-packages/bcc/version.py")


def cache_dir() -> Path | None:
    value = os.environ.get("DRILLHALL_BPF_CACHE", "").strip()
    if value == "off":
        return None
    return Path(value) if value else DEFAULT_DIR


def running_kernel() -> str:
    """The running kernel's release, version and machine: part of every key kept here."""
    uname = os.uname()
    return f"{uname.release} {uname.version} {uname.machine}"


def cache_key(
    text: bytes, cflags: Sequence[str], functions: Sequence[str], maps: Sequence[str]
) -> str:
    """What the compiler's output depends on: the program, how it is compiled, and where."""
    try:
        bcc = BCC_VERSION_FILE.read_text()
    except OSError:
        bcc = ""
    header = {
        "format": FORMAT, "cflags": list(cflags), "functions": list(functions),
        "maps": list(maps), "kernel": running_kernel(),
        "bcc": bcc,
    }  # fmt: skip
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    digest.update(text)
    return digest.hexdigest()


def _private(path: Path) -> bool:
    """Owned by this user and writable by no one else."""
    info = path.lstat()
    return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


class CompiledCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _file(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._file(key)
        try:
            if not (_private(self.directory) and _private(path)):
                log.warning("compiled programs in %s not used: not private to this user", path)
                return None
            entry = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("compiled program %s not used: %s", path, exc)
            return None
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Keep ``entry`` (written whole, or not at all); a cache that cannot be written only
        means the next agent compiles again."""
        tmp = self.directory / f".{key}.{os.getpid()}.tmp"
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not _private(self.directory):
                return
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump({**entry, "key": key}, out)
            os.replace(tmp, self._file(key))
        except OSError as exc:
            log.warning("compiled program not kept in %s: %s", self.directory, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()


def default_cache() -> CompiledCache | None:
    directory = cache_dir()
    return CompiledCache(directory) if directory is not None else None


def load_image(image: dict[str, Any]) -> tuple[list[int], dict[str, int]]:
    """Create the image's maps and load its functions: (function descriptors in the image's
    order, requested map name -> descriptor). Raises OSError when the kernel refuses, and
    ValueError, KeyError or TypeError for an image that does not hold together; nothing is
    left open then."""
    opened: list[int] = []
    try:
        maps = []
        for spec in image["maps"]:
            info = bpf_syscalls.MapInfo(
                type=int(spec["type"]), key_size=int(spec["key_size"]),
                value_size=int(spec["value_size"]), max_entries=int(spec["max_entries"]),
                map_flags=int(spec["flags"]), name=str(spec["name"]).encode()[:15],
            )  # fmt: skip
            maps.append(bpf_syscalls.map_create(info))
            opened.append(maps[-1])
        functions = []
        for function in image["functions"]:
            code = bytearray(base64.b64decode(function["insns"], validate=True))
            if not code or len(code) % 8:
                raise ValueError("instructions are not whole")
            for index, map_index in function["references"]:
                if not 0 <= int(index) < len(code) // 8 or not 0 <= int(map_index) < len(maps):
                    raise ValueError("a map reference out of range")
                struct.pack_into("<i", code, int(index) * 8 + 4, maps[int(map_index)])
            name = str(function["name"])
            kind = bpf_syscalls.program_type(name)
            functions.append(bpf_syscalls.prog_load(bytes(code), str(image["license"]), name, kind))
            opened.append(functions[-1])
        requested = {str(name): maps[int(i)] for name, i in image["requested"].items()}
    except BaseException:
        for fd in opened:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise
    # The programs hold the maps they use; only the requested ones are needed here.
    for fd in set(maps) - set(requested.values()):
        os.close(fd)
    return functions, requested
