"""Real service processes inside lab namespaces: start, find, check, stop.

Each service runs as `ip netns exec <ns> <program> ...` (ip execs the program, so the pid we
get is the service's own), in a new session so it outlives the command that started it, with
its pid file and log under the lab state dir:

    <state_dir>/run/<host>-<service>.pid
    <state_dir>/logs/<host>-<service>.log
    <state_dir>/data/<host>-<service>/        (working directory, e.g. Redis's dir)

A kind of service is a `Launcher`: how to build its argv (writing any config file it needs
into its working directory), how to tell it answers, and a word of its command line that
proves a pid from a pid file is still this service (pids get reused).
"""

from __future__ import annotations

import hashlib
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
from drills.lab.lab_error import LabError
from drills.lab.topology import LabHost, ServiceSpec, Topology

READY_TIMEOUT_S = 5.0
LOG_TAIL_LINES = 20
PROBE_TIMEOUT_S = 0.3
# Start order: what others connect to first (the app tolerates Redis coming later anyway).
START_ORDER = {"redis": 0, "sentinel": 1, "dns": 2}


@dataclass(frozen=True)
class ServiceContext:
    """Everything a launcher may need about one service of one lab."""

    state_dir: Path
    topology: Topology
    host: LabHost
    svc: ServiceSpec

    @property
    def stem(self) -> str:
        return f"{self.host.name}-{self.svc.name}"

    @property
    def workdir(self) -> Path:
        return self.state_dir / "data" / self.stem


@dataclass(frozen=True)
class Launcher:
    argv: Callable[[ServiceContext], list[str]]
    ready: Callable[[ServiceContext], bool]
    signature: str


def _netns_exec(host: LabHost) -> list[str]:
    return ["ip", "netns", "exec", host.netns]


def _need(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise LabError(f"{program} not found: install {package} (make setup does it)")
    return path


# -- redis and sentinel ---------------------------------------------------------------------


def _redis_argv(ctx: ServiceContext) -> list[str]:
    server = _need("redis-server", "Redis")
    argv = [
        *_netns_exec(ctx.host), server,
        "--bind", f"{ctx.host.address} 127.0.0.1",
        "--port", str(ctx.svc.port),
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "no",
        "--daemonize", "no",
        # Anything Redis writes (a replica's sync file, say) stays in the lab state dir.
        "--dir", str(ctx.workdir),
        # Redis waits 5 s for more replicas before a diskless full sync: the lab has one.
        "--repl-diskless-sync-delay", "0",
    ]  # fmt: skip
    primary = ctx.svc.option("replicaof")
    if primary:
        p = ctx.topology.host(primary)
        argv += ["--replicaof", p.address, str(p.service("redis").port)]
    return argv


def _resp_ping(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=PROBE_TIMEOUT_S) as sock:
            sock.settimeout(PROBE_TIMEOUT_S)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _replica_synced(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=PROBE_TIMEOUT_S) as sock:
            sock.settimeout(PROBE_TIMEOUT_S)
            sock.sendall(b"INFO replication\r\n")
            info = sock.recv(8192)
            # After a failover the replica is the master: that is healthy too.
            return b"master_link_status:up" in info or b"role:master" in info
    except OSError:
        return False


def _redis_ready(ctx: ServiceContext) -> bool:
    # A replica is ready once it has synced: a failover before that would lose data.
    if ctx.svc.kind == "redis" and ctx.svc.option("replicaof"):
        return _replica_synced(ctx.host.address, ctx.svc.port)
    return _resp_ping(ctx.host.address, ctx.svc.port)


def sentinel_id(host: LabHost) -> str:
    """A fixed Sentinel run id per host, so each Sentinel can be told its peers up front."""
    return hashlib.sha1(f"drillhall-lab-sentinel-{host.name}".encode()).hexdigest()  # noqa: S324


def sentinel_config(ctx: ServiceContext) -> str:
    """Sentinel's config file: the master, and its replica and peers known from the start.

    Listing the peers (with fixed ids) instead of waiting for Sentinel's hello messages
    makes the lab failover-ready as soon as it answers, not ~2 s later.
    """
    svc = ctx.svc
    master = svc.option("master", "shop")
    primary = ctx.topology.host(svc.option("primary") or "db1")
    lines = [
        f"port {svc.port}",
        f"bind {ctx.host.address} 127.0.0.1",
        "daemonize no",
        "protected-mode no",
        f"dir {ctx.workdir}",
        f"sentinel myid {sentinel_id(ctx.host)}",
        f"sentinel monitor {master} {primary.address} {primary.service('redis').port} "
        f"{svc.option('quorum', '2')}",
        f"sentinel down-after-milliseconds {master} {svc.option('down_after_ms', '2000')}",
        f"sentinel failover-timeout {master} {svc.option('failover_timeout_ms', '4000')}",
        f"sentinel parallel-syncs {master} 1",
    ]
    for host, redis in ctx.topology.services_of_kind("redis"):
        if host.name != primary.name and redis.option("replicaof") == primary.name:
            lines.append(f"sentinel known-replica {master} {host.address} {redis.port}")
    for host, peer in ctx.topology.services_of_kind("sentinel"):
        if host.name != ctx.host.name:
            lines.append(
                f"sentinel known-sentinel {master} {host.address} {peer.port} {sentinel_id(host)}"
            )
    return "\n".join(lines) + "\n"


def _sentinel_argv(ctx: ServiceContext) -> list[str]:
    server = _need("redis-server", "Redis")
    # Sentinel rewrites its config file at run time: it lives in the service's workdir.
    conf = ctx.workdir / "sentinel.conf"
    conf.write_text(sentinel_config(ctx))
    return [*_netns_exec(ctx.host), server, str(conf), "--sentinel"]


# -- http services ----------------------------------------------------------------------------


def _python_module(ctx: ServiceContext, module: str) -> list[str]:
    return [*_netns_exec(ctx.host), sys.executable, "-m", module]


def _demoapp_argv(ctx: ServiceContext) -> list[str]:
    redis_host = ctx.topology.host(ctx.svc.option("redis") or "db1")
    redis_port = redis_host.service("redis").port
    argv = [
        *_python_module(ctx, "drills.lab.demoapp"),
        "--listen", f"{ctx.host.address}:{ctx.svc.port}",
        "--redis", f"{redis_host.address}:{redis_port}",
        "--master", ctx.svc.option("master") or "shop",
    ]  # fmt: skip
    # Every Sentinel: the app asks them all and trusts the newest config epoch.
    for host, sentinel in ctx.topology.services_of_kind("sentinel"):
        argv += ["--sentinel", f"{host.address}:{sentinel.port}"]
    return argv


def _http_ready(ctx: ServiceContext) -> bool:
    conn = http.client.HTTPConnection(ctx.host.address, ctx.svc.port, timeout=PROBE_TIMEOUT_S)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def files_dir(state_dir: Path, svc: ServiceSpec) -> Path:
    """The directory the files service writes into (the place for io.delay / io.error)."""
    return state_dir / "data" / (svc.option("dir") or "files")


def _files_argv(ctx: ServiceContext) -> list[str]:
    return [
        *_python_module(ctx, "drills.lab.filesvc"),
        "--listen", f"{ctx.host.address}:{ctx.svc.port}",
        "--dir", str(files_dir(ctx.state_dir, ctx.svc)),
    ]  # fmt: skip


# -- the supervised worker ----------------------------------------------------------------


def worker_pid_file(state_dir: Path, svc: ServiceSpec) -> Path:
    """The worker's own pid file (the supervisor's is the service pid file)."""
    return state_dir / "run" / f"{worker_name(svc)}.pid"


def worker_heartbeat(state_dir: Path, svc: ServiceSpec) -> Path:
    return state_dir / "data" / f"{worker_name(svc)}.heartbeat"


def worker_name(svc: ServiceSpec) -> str:
    return svc.option("process") or "shop-worker"


def _worker_argv(ctx: ServiceContext) -> list[str]:
    return [
        *_python_module(ctx, "drills.lab.worker"),
        "--name", worker_name(ctx.svc),
        "--pid-file", str(worker_pid_file(ctx.state_dir, ctx.svc)),
        "--heartbeat", str(worker_heartbeat(ctx.state_dir, ctx.svc)),
    ]  # fmt: skip


def _worker_ready(ctx: ServiceContext) -> bool:
    pid = read_pid(worker_pid_file(ctx.state_dir, ctx.svc), "drills.lab.worker")
    return pid is not None


# -- dns ------------------------------------------------------------------------------------


def dns_records(ctx: ServiceContext) -> dict[str, str]:
    """Name -> address: every lab host as <name>.<domain>, plus the aliases (name=host)."""
    domain = ctx.svc.option("domain") or "lab"
    records = {f"{h.name}.{domain}": h.address for h in ctx.topology.hosts}
    for alias in filter(None, (ctx.svc.option("alias") or "").split(",")):
        name, _, host = alias.partition("=")
        records[name] = ctx.topology.host(host).address
    return records


def _dns_argv(ctx: ServiceContext) -> list[str]:
    dnsmasq = _need("dnsmasq", "dnsmasq")
    domain = ctx.svc.option("domain") or "lab"
    argv = [
        *_netns_exec(ctx.host), dnsmasq,
        "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
        f"--listen-address={ctx.host.address}", f"--port={ctx.svc.port}",
        f"--pid-file={ctx.workdir / 'dnsmasq.pid'}", "--user=root", "--log-facility=-",
        # Names in these zones that we do not know are NXDOMAIN, never forwarded.
        f"--local=/{domain}/",
    ]  # fmt: skip
    zones = {name.split(".", 1)[-1] for name in dns_records(ctx)} - {domain}
    argv += [f"--local=/{zone}/" for zone in sorted(zones)]
    argv += [f"--address=/{name}/{address}" for name, address in dns_records(ctx).items()]
    return argv


def _dns_ready(ctx: ServiceContext) -> bool:
    import dns.exception
    import dns.message
    import dns.query

    name = f"{ctx.host.name}.{ctx.svc.option('domain') or 'lab'}"
    query = dns.message.make_query(name, "A")
    try:
        reply = dns.query.udp(query, ctx.host.address, port=ctx.svc.port, timeout=PROBE_TIMEOUT_S)
    except (OSError, dns.exception.DNSException):
        return False
    return any(ctx.host.address in rrset.to_text() for rrset in reply.answer)


LAUNCHERS: dict[str, Launcher] = {
    "redis": Launcher(argv=_redis_argv, ready=_redis_ready, signature="redis-server"),
    "sentinel": Launcher(argv=_sentinel_argv, ready=_redis_ready, signature="redis-server"),
    "demoapp": Launcher(argv=_demoapp_argv, ready=_http_ready, signature="drills.lab.demoapp"),
    "files": Launcher(argv=_files_argv, ready=_http_ready, signature="drills.lab.filesvc"),
    "worker": Launcher(argv=_worker_argv, ready=_worker_ready, signature="drills.lab.worker"),
    "dns": Launcher(argv=_dns_argv, ready=_dns_ready, signature="dnsmasq"),
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


def service_answers(state_dir: Path, topology: Topology, host: LabHost, svc: ServiceSpec) -> bool:
    return launcher(svc).ready(ServiceContext(Path(state_dir), topology, host, svc))


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The demo app imports `drills`: make the source tree importable even without an
    # installed package (the venv's editable install normally covers it).
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Started:
    ctx: ServiceContext
    proc: subprocess.Popen[bytes]
    log: Path
    pid_file: Path


def spawn_service(state_dir: Path, topology: Topology, host: LabHost, svc: ServiceSpec) -> Started:
    """Start `svc` in `host`'s namespace without waiting for it (see wait_ready)."""
    spec = launcher(svc)
    ctx = ServiceContext(state_dir, topology, host, svc)
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    log = log_file(state_dir, host, svc)
    log.parent.mkdir(parents=True, exist_ok=True)
    pidf = pid_file(state_dir, host, svc)
    pidf.parent.mkdir(parents=True, exist_ok=True)

    argv = spec.argv(ctx)
    with log.open("wb") as out:  # one log per run: its tail explains this start
        try:
            proc = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ctx.workdir,
                env=_child_env(),
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise LabError(f"cannot start {svc.name} in {host.netns}: {exc}") from exc
    pidf.write_text(f"{proc.pid}\n")
    return Started(ctx, proc, log, pidf)


def wait_ready(started: Started, deadline: float) -> int:
    """Wait until the service answers; returns its pid.

    Raises LabError with the log tail when it exits early or does not answer by `deadline`
    (the process is stopped first, so a failed start leaves nothing running).
    """
    ctx, proc = started.ctx, started.proc
    spec = launcher(ctx.svc)
    where = f"{ctx.svc.name} in {ctx.host.netns}"
    while True:
        if proc.poll() is not None:
            started.pid_file.unlink(missing_ok=True)
            raise LabError(
                f"{where} exited with {proc.returncode} at start; "
                f"log {started.log}:\n{log_tail(started.log)}"
            )
        if spec.ready(ctx):
            return proc.pid
        if time.monotonic() >= deadline:
            procs.terminate([proc.pid])
            started.pid_file.unlink(missing_ok=True)
            port = f" on {ctx.host.address}:{ctx.svc.port}" if ctx.svc.port else ""
            raise LabError(
                f"{where} did not answer{port} in time; log {started.log}:\n{log_tail(started.log)}"
            )
        time.sleep(0.05)


def start_services(
    state_dir: Path, topology: Topology, timeout_s: float = READY_TIMEOUT_S
) -> list[int]:
    """Start every service of the lab at once, then wait until each answers; returns pids.

    Starting all before waiting for any keeps `lab up` fast (the Python services spend most
    of their start importing). Order still matters for what connects at start.
    """
    pairs = sorted(
        ((h, s) for h in topology.hosts for s in h.services),
        key=lambda hs: START_ORDER.get(hs[1].kind, len(START_ORDER)),
    )
    started = [spawn_service(state_dir, topology, h, s) for h, s in pairs]
    deadline = time.monotonic() + timeout_s
    return [wait_ready(s, deadline) for s in started]


def start_service(
    state_dir: Path,
    topology: Topology,
    host: LabHost,
    svc: ServiceSpec,
    timeout_s: float = READY_TIMEOUT_S,
) -> int:
    """Start one service and wait until it answers; returns its pid (e.g. after a stop)."""
    return wait_ready(spawn_service(state_dir, topology, host, svc), time.monotonic() + timeout_s)


def stop_service(state_dir: Path, host: LabHost, svc: ServiceSpec) -> int | None:
    """Stop the service named by its pid file, if it still runs; returns the pid stopped."""
    pidf = pid_file(state_dir, host, svc)
    pid = read_pid(pidf, launcher(svc).signature)
    if pid is not None:
        procs.terminate([pid])
    pidf.unlink(missing_ok=True)
    return pid
