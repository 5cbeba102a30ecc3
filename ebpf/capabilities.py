"""Can this host run Drillhall's eBPF collectors? Checked step by step, cheapest first.

bcc (Debian's python3-bpfcc) importable -> root -> kernel headers where bcc looks for them
-> debugfs mounted (bcc reads tracepoint formats there) -> a tiny real program
(probe_check.bpf.c, a tracepoint: this kernel has no kprobes) compiles, attaches, counts one
exec, and is detached. The compile runs in a child process so a hanging or crashing libbcc,
or clang's warnings on stderr, cannot take the caller down or clutter its output.

`Capability` lives here (not in drills/) so a target host that has only the agent packages
can run the check; drills.cli.doctor re-exports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROBE_SOURCE = Path(__file__).with_name("probe_check.bpf.c")
PROBE_TIMEOUT_S = 15.0
DEBUGFS_TRACING = Path("/sys/kernel/debug/tracing")
SETUP_FIX = "run `make setup` as root (scripts/setup.sh)"


@dataclass
class Capability:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _missing(detail: str, fix: str) -> Capability:
    return Capability("ebpf", False, detail, fix)


def headers_dir(release: str | None = None) -> Path:
    return Path("/lib/modules") / (release or os.uname().release) / "build"


def check_ebpf() -> Capability:
    """Whether bcc can compile and attach a tracepoint program here, and if not, why."""
    try:
        import bcc  # noqa: F401 (lazy: libbcc is heavy and absent on many hosts)
    except Exception as exc:  # ImportError, or OSError when libbcc itself is missing
        return _missing(
            f"bcc is not importable ({type(exc).__name__}: {exc})",
            f"{SETUP_FIX}: installs python3-bpfcc and links it into the venv",
        )
    if os.geteuid() != 0:
        return _missing("not root: loading eBPF programs needs root", "run as root")
    headers = headers_dir()
    if not headers.exists():
        return _missing(
            f"no kernel headers at {headers}",
            f"{SETUP_FIX}: installs linux-headers-cloud-amd64 and links them there",
        )
    if not DEBUGFS_TRACING.is_dir():
        return _missing(
            f"{DEBUGFS_TRACING} missing (debugfs not mounted)",
            "mount -t debugfs none /sys/kernel/debug",
        )
    return _compile_and_attach()


def _compile_and_attach() -> Capability:
    argv = [sys.executable, "-m", "ebpf.capabilities", "--probe"]
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    try:
        proc = subprocess.run(  # noqa: S603 (fixed argv, no shell)
            argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return _missing(f"compiling {PROBE_SOURCE.name} took over {PROBE_TIMEOUT_S:g} s", SETUP_FIX)
    result = _last_json_line(proc.stdout)
    if proc.returncode == 0 and result.get("ok"):
        return Capability(
            "ebpf",
            True,
            f"bcc compiled and attached a tracepoint probe "
            f"(sched:sched_process_exec saw {result.get('execs')} exec events)",
        )
    # bcc's exception says "failed to compile"; clang's reason is on stderr.
    parts = [result.get("error", ""), _tail(proc.stderr)]
    reason = "; ".join(p for p in parts if p) or f"probe exited {proc.returncode}"
    return _missing(f"probe failed: {reason}", SETUP_FIX)


def _last_json_line(text: str) -> dict[str, Any]:
    for line in reversed(text.splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    return {}


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def run_probe() -> dict[str, Any]:
    """Compile, attach, trigger one exec, read the count, detach (runs in the child)."""
    from bcc import BPF

    if not BPF.tracepoint_exists("sched", "sched_process_exec"):
        return {"ok": False, "error": "tracepoint sched:sched_process_exec not found"}
    bpf = BPF(src_file=str(PROBE_SOURCE).encode())
    try:
        subprocess.run(["/bin/true"], check=False, timeout=5)  # noqa: S603 (one known exec)
        execs = sum(v.value for v in bpf["execs"].values())
    finally:
        bpf.cleanup()
    if execs < 1:
        return {"ok": False, "error": "probe attached but saw no exec"}
    return {"ok": True, "execs": execs}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["--probe"]:
        cap = check_ebpf()
        print(json.dumps(cap.to_dict()))
        return 0 if cap.ok else 1
    try:
        result = run_probe()
    except Exception as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
