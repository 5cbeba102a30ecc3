"""A bcc program compiled in a child (``ebpf.compile_child``) and held by its descriptors.

``load`` starts the child, sends it what to compile, and receives the program and map
descriptors with a description of each map's types. ``LoadedProgram`` offers the part of bcc's
``BPF`` object the collectors use: ``program[b"map"]`` (a ``MapHandle`` with ``Key``, ``Leaf``,
item access, ``items``, ``clear`` and a draining read), ``attach_tracepoint``,
``detach_tracepoint``, ``tracepoint_fds`` and ``cleanup``, through plain system calls
(``ebpf.bpf_syscalls``). So the agent never loads clang or LLVM.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ebpf import bpf_syscalls, compiled_cache
from ebpf.collector import CollectorUnavailable

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
COMPILE_TIMEOUT_S = 60.0
MAX_MESSAGE = 1 << 20
MAX_FDS = 64


def ctype_of(description: Any) -> Any:
    """The ctypes type a ``compile_child.describe`` description stands for."""
    if isinstance(description, str):
        found = getattr(ctypes, description, None)
        if not isinstance(found, type):
            raise ValueError(f"unknown map type {description!r}")
        return found
    if "array" in description:
        element, length = description["array"]
        return ctype_of(element) * int(length)
    kind = "union" if "union" in description else "struct"
    fields = [(f[0], ctype_of(f[1]), *f[2:]) for f in description[kind]]
    base = ctypes.Union if kind == "union" else ctypes.Structure
    namespace: dict[str, Any] = {"_fields_": fields}
    if description.get("pack"):
        namespace["_pack_"] = int(description["pack"])
    return type("MapType", (base,), namespace)


class MapHandle:
    """One map by its descriptor, with the key and value types bcc gave it."""

    def __init__(self, name: str, fd: int, key: Any, leaf: Any) -> None:
        self.name, self.map_fd, self.Key, self.Leaf = name, fd, key, leaf

    def __getitem__(self, key: Any) -> Any:
        value = self.Leaf()
        if not bpf_syscalls.map_lookup(self.map_fd, key, value):
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        bpf_syscalls.map_update(self.map_fd, key, value)

    def __delitem__(self, key: Any) -> None:
        if not bpf_syscalls.map_delete(self.map_fd, key):
            raise KeyError(key)

    def keys(self) -> Iterator[Any]:
        key: Any = None
        while True:
            following = self.Key()
            if not bpf_syscalls.map_next_key(self.map_fd, key, following):
                return
            yield following
            key = following

    def items(self) -> list[tuple[Any, Any]]:
        out = []
        for key in list(self.keys()):
            value = self.Leaf()
            if bpf_syscalls.map_lookup(self.map_fd, key, value):
                out.append((key, value))
        return out

    def values(self) -> list[Any]:
        return [value for _, value in self.items()]

    def clear(self) -> None:
        for key in list(self.keys()):
            bpf_syscalls.map_delete(self.map_fd, key)

    def items_lookup_and_delete_batch(self) -> list[tuple[Any, Any]]:
        """Every entry, each taken out as it is read (what ``bcc_program.drain`` wants)."""
        out = []
        for key in list(self.keys()):
            value = self.Leaf()
            if bpf_syscalls.map_take(self.map_fd, key, value):
                out.append((key, value))
        return out


class LoadedProgram:
    def __init__(self, functions: dict[str, int], maps: dict[str, MapHandle]) -> None:
        self.functions = functions
        self.maps = maps
        self.tracepoint_fds: dict[bytes, int] = {}

    def __getitem__(self, name: bytes | str) -> MapHandle:
        return self.maps[name.decode() if isinstance(name, bytes) else name]

    def attach_tracepoint(self, tp: bytes, fn_name: bytes) -> None:
        if tp in self.tracepoint_fds:
            return
        category, event = tp.decode().split(":", 1)
        function = fn_name.decode()
        program = self.functions[function]
        if bpf_syscalls.program_type(function) == bpf_syscalls.BPF_PROG_TYPE_RAW_TRACEPOINT:
            self.tracepoint_fds[tp] = bpf_syscalls.attach_raw_tracepoint(program, event)
        else:
            self.tracepoint_fds[tp] = bpf_syscalls.attach_tracepoint(program, category, event)

    def detach_tracepoint(self, tp: bytes) -> None:
        fd = self.tracepoint_fds.pop(tp, None)
        if fd is not None:
            os.close(fd)

    def attach_all(self, tracepoints: Iterable[tuple[str, str]], raw: bool = False) -> None:
        for category, event in tracepoints:
            tp = f"{category}:{event}".encode()
            self.attach_tracepoint(tp, function_name(category, event, raw).encode())

    def cleanup(self) -> None:
        for tp in list(self.tracepoint_fds):
            self.detach_tracepoint(tp)
        fds = [*self.functions.values(), *(m.map_fd for m in self.maps.values())]
        self.functions, self.maps = {}, {}
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass


def function_name(category: str, event: str, raw: bool = False) -> str:
    """The name bcc gives a TRACEPOINT_PROBE(category, event), or with ``raw`` a
    RAW_TRACEPOINT_PROBE(event)."""
    if raw:
        return f"{bpf_syscalls.RAW_TRACEPOINT_PREFIX}{event}"
    return f"tracepoint__{category}__{event}"


def load(
    source: Path,
    cflags: Sequence[str],
    tracepoints: Sequence[tuple[str, str]],
    maps: Sequence[str],
    raw: bool = False,
) -> LoadedProgram:
    """Load ``source``'s program (from the compiled cache, or compiled in a child) and attach
    its tracepoints here, as raw tracepoints with ``raw``; the loaded program."""
    from ebpf.bcc_program import program_text

    functions = [function_name(c, e, raw) for c, e in tracepoints]
    cache = compiled_cache.default_cache()
    key = ""
    if cache is not None:
        key = compiled_cache.cache_key(program_text(source), cflags, functions, maps)
        kept = _from_cache(cache, key, source)
        if kept is not None:
            return _attached(kept, tracepoints, source, raw)
    answer, fds = _compile(source, cflags, functions, maps)
    program = _program(answer, fds)
    if cache is not None and answer.get("image"):
        cache.put(key, {"functions": answer["functions"], "maps": answer["maps"],
                        "image": answer["image"]})  # fmt: skip
    return _attached(program, tracepoints, source, raw)


def _from_cache(
    cache: compiled_cache.CompiledCache, key: str, source: Path
) -> LoadedProgram | None:
    entry = cache.get(key)
    if entry is None:
        return None
    try:
        functions, maps = compiled_cache.load_image(entry["image"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: the kept compiled program was not loaded (%s)", source.name, exc)
        return None
    try:
        return _program(entry, [*functions, *(maps[spec["name"]] for spec in entry["maps"])])
    except (ValueError, KeyError, TypeError) as exc:
        for fd in [*functions, *maps.values()]:
            os.close(fd)
        log.warning("%s: the kept compiled program was not used (%s)", source.name, exc)
        return None


def _compile(
    source: Path, cflags: Sequence[str], functions: list[str], maps: Sequence[str]
) -> tuple[dict[str, Any], list[int]]:
    """Compile in a child: its answer and the descriptors it handed over."""
    request = {"source": str(source), "cflags": list(cflags), "functions": functions,
               "maps": list(maps)}  # fmt: skip
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.Popen(
            [sys.executable, "-m", "ebpf.compile_child", str(child.fileno())],
            pass_fds=(child.fileno(),), cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        child.close()
        try:
            parent.sendall(json.dumps(request).encode())
            parent.settimeout(COMPILE_TIMEOUT_S)
            message, fds, _flags, _addr = socket.recv_fds(parent, MAX_MESSAGE, MAX_FDS)
            _, stderr = proc.communicate(timeout=COMPILE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            proc.kill()
            proc.wait()
            raise CollectorUnavailable(f"{source.name}: the compiler child failed ({exc})") from exc
    finally:
        parent.close()
    answer = json.loads(message) if message else {"error": _last_line(stderr)}
    if "error" in answer:
        for fd in fds:
            os.close(fd)
        raise CollectorUnavailable(f"{source.name} did not compile or load ({answer['error']})")
    return answer, fds


def _attached(
    program: LoadedProgram, tracepoints: Sequence[tuple[str, str]], source: Path, raw: bool
) -> LoadedProgram:
    try:
        program.attach_all(tracepoints, raw)
    except OSError as exc:
        program.cleanup()
        raise CollectorUnavailable(
            f"{source.name}: could not attach its tracepoints ({exc})"
        ) from exc
    return program


def _program(answer: dict[str, Any], fds: list[int]) -> LoadedProgram:
    names = list(answer["functions"])
    functions = dict(zip(names, fds[: len(names)], strict=True))
    maps = {}
    for spec, fd in zip(answer["maps"], fds[len(names) :], strict=True):
        maps[spec["name"]] = MapHandle(spec["name"], fd, ctype_of(spec["key"]),
                                       ctype_of(spec["value"]))  # fmt: skip
    return LoadedProgram(functions, maps)


def _last_line(stderr: bytes | None) -> str:
    lines = (stderr or b"").decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "the compiler child ended without an answer"
