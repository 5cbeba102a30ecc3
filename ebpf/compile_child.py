"""Compile one bcc program in a short-lived child and hand its descriptors to the parent.

    python -m ebpf.compile_child FD

The parent (``ebpf.loaded_program.load``) passes one end of a Unix socket pair as FD and sends
a JSON request: the ``.bpf.c`` source, the cflags, the tracepoint functions and the maps it
needs. The child compiles with bcc (clang and LLVM: 150 MiB and more that stay in a process
once loaded), then answers with a JSON description of each map's key and value types and,
alongside it (SCM_RIGHTS), the descriptors of the functions and the maps, and exits. The
kernel keeps the programs and maps for as long as the parent holds their descriptors; the
tracepoints bcc attached while compiling go with the child.

The answer also carries the program's *image* (``ebpf.compiled_cache``): each function's
instructions, the maps they use and where each is referenced, so that the parent can keep it
and load the same program again later without a compiler. Nothing is pinned in bpffs: no
program or map outlives the process that holds it.
"""

from __future__ import annotations

import base64
import ctypes
import json
import socket
import struct
import sys
from pathlib import Path
from typing import Any

MAX_MESSAGE = 1 << 20


def describe(ctype: Any) -> Any:
    """A ctypes type as JSON: a scalar's name, an array, or a structure's fields."""
    if isinstance(ctype, type) and issubclass(ctype, ctypes.Structure | ctypes.Union):
        kind = "union" if issubclass(ctype, ctypes.Union) else "struct"
        fields = [[f[0], describe(f[1]), *f[2:]] for f in ctype._fields_]
        return {kind: fields, "pack": getattr(ctype, "_pack_", 0)}
    if isinstance(ctype, type) and issubclass(ctype, ctypes.Array):
        return {"array": [describe(ctype._type_), ctype._length_]}
    return ctype.__name__


def compile_and_describe(request: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
    sys.path.insert(0, "/usr/lib/python3/dist-packages")  # Debian's python3-bpfcc
    from bcc import BPF

    from ebpf.bcc_program import program_text
    from ebpf.bpf_syscalls import program_type

    bpf = BPF(text=program_text(Path(request["source"])), cflags=list(request["cflags"]))
    fds: list[int] = []
    functions = []
    for name in request["functions"]:
        functions.append(name)
        # bcc's program types are the kernel's numbers.
        fds.append(bpf.load_func(name.encode(), program_type(name)).fd)
    maps = []
    for name in request["maps"]:
        table = bpf[name.encode()]
        maps.append({"name": name, "key": describe(table.Key), "value": describe(table.Leaf)})
        fds.append(table.map_fd)
    license = module_license(bpf)
    code = {name: bytes(bpf.dump_func(name.encode())) for name in functions}
    answer: dict[str, Any] = {"functions": functions, "maps": maps}
    answer["image"] = image(code, license, fds[len(functions) :], maps)
    # The parent keeps what it receives; these copies, and the tracepoints bcc attached on
    # load, end with this process.
    return answer, fds


def module_license(bpf: Any) -> str:
    """The license the program declares (bcc's default is GPL): the kernel checks it again
    at every load."""
    from bcc import lib

    return str(lib.bpf_module_license(bpf.module).decode())


LD_IMM64 = 0x18
PSEUDO_MAP_FD = 1


def map_references(code: bytes) -> list[tuple[int, int]]:
    """(instruction index, map descriptor) of every map reference in ``code``; raises
    ValueError for a reference of another kind (a map value, a BTF object), which a load
    elsewhere could not rebuild."""
    found = []
    for index in range(0, len(code) // 8):
        opcode, regs, _off, imm = struct.unpack_from("<BBhi", code, index * 8)
        if opcode != LD_IMM64:
            continue
        source = regs >> 4
        if source == PSEUDO_MAP_FD:
            found.append((index, imm))
        elif source != 0:
            raise ValueError(f"a reference of kind {source} at instruction {index}")
    return found


def image(
    code: dict[str, bytes], license: str, map_fds: list[int], maps: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """What loads this program again without compiling it, or None when it cannot be rebuilt
    that way. Maps: every one the functions reference, and the requested ones (by name)."""
    from ebpf import bpf_syscalls

    try:
        references = {name: map_references(insns) for name, insns in code.items()}
    except ValueError:
        return None
    order: list[int] = []
    for fd in [*map_fds, *(fd for refs in references.values() for _, fd in refs)]:
        if fd not in order:
            order.append(fd)
    described = []
    for fd in order:
        info = bpf_syscalls.map_info(fd)
        described.append({
            "type": info.type, "key_size": info.key_size, "value_size": info.value_size,
            "max_entries": info.max_entries, "flags": info.map_flags,
            "name": info.name.decode(errors="replace"),
        })  # fmt: skip
    requested = {spec["name"]: order.index(fd) for spec, fd in zip(maps, map_fds, strict=True)}
    return {
        "license": license,
        "maps": described,
        "requested": requested,
        "functions": [
            {
                "name": name,
                "insns": base64.b64encode(insns).decode(),
                "references": [[index, order.index(fd)] for index, fd in references[name]],
            }
            for name, insns in code.items()
        ],  # fmt: skip
    }


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[0]))
    try:
        request = json.loads(sock.recv(MAX_MESSAGE))
        try:
            answer, fds = compile_and_describe(request)
        except Exception as exc:  # bcc raises plain Exception on a failed compile or load
            answer, fds = {"error": f"{type(exc).__name__}: {exc}"}, []
        socket.send_fds(sock, [json.dumps(answer).encode()], fds)
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
