"""Real service processes inside lab namespaces: start, find, check, stop.

Each service runs as `ip netns exec <ns> <program> ...` (ip execs the program, so the pid we
get is the service's own), in a new session so it outlives the command that started it, with
its pid file and log under the lab state dir:

    <state_dir>/run/<host>-<service>.pid
    <state_dir>/logs/<host>-<service>.log
    <state_dir>/data/<host>-<service>/        (working directory, e.g. Redis's dir)

A kind of service is a `Launcher`: how to build its argv, how to tell it answers, and a word
of its command line that proves a pid from a pid file is still this service (pids get reused).
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drills.lab import procs
from drills.lab.errors import LabError
from drills.lab.topology import LabHost, ServiceSpec, Topology

READY_TIMEOUT_S = 5.0
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class Launcher:
    argv: Callable[[Topology, LabHost, ServiceSpec, Path], list[str]]
    ready: Callable[[LabHost, ServiceSpec], bool]
    signature: str


def _netns_exec(host: LabHost) -> list[str]:
    return ["ip", "netns", "exec", host.netns]


def _redis_argv(topology: Topology, host: LabHost, svc: ServiceSpec, workdir: Path) -> list[str]:
    server = shutil.which("redis-server")
    if server is None:
        raise LabError("redis-server not found: install Redis (make setup does it)")
    return [
        *_netns_exec(host), server,
        "--bind", f"{host.address} 127.0.0.1",
        "--port", str(svc.port),
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "no",
        "--daemonize", "no",
        # Anything Redis writes (a replica's sync file, say) stays in the lab state dir.
        "--dir", str(workdir),
    ]  # fmt: skip


def _redis_ready(host: LabHost, svc: ServiceSpec) -> bool:
    try:
        with socket.create_connection((host.address, svc.port), timeout=0.3) as sock:
            sock.settimeout(0.3)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _demoapp_argv(topology: Topology, host: LabHost, svc: ServiceSpec, workdir: Path) -> list[str]:
    redis_host = topology.host(svc.option("redis") or "db1")
    redis_port = redis_host.service("redis").port
    return [
        *_netns_exec(host), sys.executable, "-m", "drills.lab.demoapp",
        "--listen", f"{host.address}:{svc.port}",
        "--redis", f"{redis_host.address}:{redis_port}",
    ]  # fmt: skip


def _http_ready(host: LabHost, svc: ServiceSpec) -> bool:
    conn = http.client.HTTPConnection(host.address, svc.port, timeout=0.3)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


LAUNCHERS: dict[str, Launcher] = {
    "redis": Launcher(argv=_redis_argv, ready=_redis_ready, signature="redis-server"),
    "demoapp": Launcher(argv=_demoapp_argv, ready=_http_ready, signature="drills.lab.demoapp"),
}


def launcher(svc: ServiceSpec) -> Launcher:
    try:
        return LAUNCHERS[svc.kind]
    except KeyError:
        raise LabError(f"unknown service kind {svc.kind!r} for service {svc.name!r}") from None


def _stem(host: LabHost, svc: ServiceSpec) -> str:
    return f"{host.name}-{svc.name}"


def pid_file(state_dir: Path, host: LabHost, svc: ServiceSpec) -> Path:
    return state_dir / "run" / f"{_stem(host, svc)}.pid"


def log_file(state_dir: Path, host: LabHost, svc: ServiceSpec) -> Path:
    return state_dir / "logs" / f"{_stem(host, svc)}.log"


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def read_pid(path: Path, signature: str) -> int | None:
    """The pid in `path` if that process is alive and its command line holds `signature`."""
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if procs.alive(pid) and signature in procs.cmdline(pid):
        return pid
    return None


def service_pid(state_dir: Path, host: LabHost, svc: ServiceSpec) -> int | None:
    return read_pid(pid_file(state_dir, host, svc), launcher(svc).signature)


def service_answers(host: LabHost, svc: ServiceSpec) -> bool:
    return launcher(svc).ready(host, svc)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The demo app imports `drills`: make the source tree importable even without an
    # installed package (the venv's editable install normally covers it).
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_service(
    state_dir: Path,
    topology: Topology,
    host: LabHost,
    svc: ServiceSpec,
    timeout_s: float = READY_TIMEOUT_S,
) -> int:
    """Start `svc` in `host`'s namespace and wait until it answers; returns its pid.

    Raises LabError with the log tail when it exits early or does not answer in time
    (the process is stopped first, so a failed start leaves nothing running).
    """
    spec = launcher(svc)
    workdir = state_dir / "data" / _stem(host, svc)
    workdir.mkdir(parents=True, exist_ok=True)
    log = log_file(state_dir, host, svc)
    log.parent.mkdir(parents=True, exist_ok=True)
    pidf = pid_file(state_dir, host, svc)
    pidf.parent.mkdir(parents=True, exist_ok=True)

    argv = spec.argv(topology, host, svc, workdir)
    with log.open("wb") as out:  # one log per run: its tail explains this start
        try:
            proc = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=_child_env(),
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise LabError(f"cannot start {svc.name} in {host.netns}: {exc}") from exc
    pidf.write_text(f"{proc.pid}\n")

    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            pidf.unlink(missing_ok=True)
            raise LabError(
                f"{svc.name} in {host.netns} exited with {proc.returncode} at start; "
                f"log {log}:\n{log_tail(log)}"
            )
        if spec.ready(host, svc):
            return proc.pid
        if time.monotonic() >= deadline:
            procs.terminate([proc.pid])
            pidf.unlink(missing_ok=True)
            raise LabError(
                f"{svc.name} in {host.netns} did not answer on {host.address}:{svc.port} "
                f"within {timeout_s:g} s; log {log}:\n{log_tail(log)}"
            )
        time.sleep(0.05)


def stop_service(state_dir: Path, host: LabHost, svc: ServiceSpec) -> int | None:
    """Stop the service named by its pid file, if it still runs; returns the pid stopped."""
    pidf = pid_file(state_dir, host, svc)
    pid = read_pid(pidf, launcher(svc).signature)
    if pid is not None:
        procs.terminate([pid])
    pidf.unlink(missing_ok=True)
    return pid
