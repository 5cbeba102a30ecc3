"""Compile one bcc program in a short-lived child and hand its descriptors to the parent.

    python -m ebpf.compile_child FD

The parent (``ebpf.loaded_program.load``) passes one end of a Unix socket pair as FD and sends
a JSON request: the ``.bpf.c`` source, the cflags, the tracepoint functions and the maps it
needs. The child compiles with bcc (clang and LLVM: 150 MiB and more that stay in a process
once loaded), then answers with a JSON description of each map's key and value types and,
alongside it (SCM_RIGHTS), the descriptors of the functions and the maps, and exits. The
kernel keeps the programs and maps for as long as the parent holds their descriptors; the
tracepoints bcc attached while compiling go with the child.

Nothing is written to a file system: no pins in bpffs to outlive the agent.
"""

from __future__ import annotations

import ctypes
import json
import socket
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

    bpf = BPF(text=program_text(Path(request["source"])), cflags=list(request["cflags"]))
    fds: list[int] = []
    functions = []
    for name in request["functions"]:
        functions.append(name)
        fds.append(bpf.load_func(name.encode(), BPF.TRACEPOINT).fd)
    maps = []
    for name in request["maps"]:
        table = bpf[name.encode()]
        maps.append({"name": name, "key": describe(table.Key), "value": describe(table.Leaf)})
        fds.append(table.map_fd)
    # The parent keeps what it receives; these copies, and the tracepoints bcc attached on
    # load, end with this process.
    return {"functions": functions, "maps": maps}, fds


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
