"""``drillhall agent``: the host agent's supervisor process.

It owns the ledger directory, reverts what a previous agent left applied, runs the janitor in
a thread, and keeps a Celery worker (``injector.agent``) running as a child process. Because
the janitor lives here and not in the worker, a fault whose lease is not renewed is reverted
even while the worker is dead. The janitor also asks on every sweep whether a halt is in force
(``injector.halt``: the agent's own copy, kept in step with the Redis key) and reverts
everything while it is, so a halt reaches an agent whose worker missed the broadcast, and an
agent restarted under a halt stays halted until it hears the release.
"""

from __future__ import annotations

import argparse
import fcntl
import gc
import ipaddress
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from injector.credentials import agent_redis_url
from injector.gate import GateConfig, GateConfigError
from injector.halt import AgentHalt, HaltCopy, HaltFlag, HaltUnknown
from injector.host import parse_label, parse_service
from injector.janitor import Janitor
from injector.ledger import Ledger
from injector.nft import BROKER_ENV
from injector.protocol import agent_queue, check_host_name

log = logging.getLogger("injector.supervisor")

JANITOR_PERIOD = 0.5
RESTART_DELAY = 1.0
# A worker that keeps dying right after start is broken: slow down instead of spinning.
QUICK_DEATH_SECONDS = 10.0
QUICK_DEATHS_BEFORE_BACKOFF = 5
BACKOFF_DELAY = 10.0
WORKER_STOP_TIMEOUT = 10.0
MONITOR_PERIOD = 0.2
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def default_state_dir(host: str, environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("DRILLHALL_STATE_DIR"):
        return Path(env["DRILLHALL_STATE_DIR"]) / "agents" / host
    if os.geteuid() == 0:
        return Path("/var/lib/drillhall/agents") / host
    base = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "drillhall" / "agents" / host


def running_here(state_dir: Path, locks: Path = Path("/proc/locks")) -> bool:
    """Whether an agent supervisor runs on this machine with ``state_dir``: one holds the flock
    on its ``supervisor.lock`` for as long as it runs. Read from /proc/locks, so that asking
    never takes the lock, not even for a moment a starting supervisor could fail on."""
    try:
        st = (state_dir / "supervisor.lock").stat()
        held = locks.read_text()
    except OSError:
        return False
    lock = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in held.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:01:5678 0 EOF"; a waiter's line has a "->" more.
        if "->" in fields:
            continue
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == lock:
            return True
    return False


def _host_arg(value: str) -> str:
    try:
        return check_host_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _label_arg(value: str) -> tuple[str, str]:
    try:
        return parse_label(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _service_arg(value: str) -> dict[str, object]:
    try:
        return parse_service(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="drillhall agent",
        description="Run the Drillhall host agent (Celery worker + janitor) for one host.",
    )
    parser.add_argument("--host", required=True, type=_host_arg, help="this host's name")
    parser.add_argument("--netns", help="network namespace the faults go into")
    parser.add_argument("--state-dir", type=Path, help="ledger directory")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        help="broker and result backend, without a password: the agent's own Redis user and "
        "its password come from the credentials directory (default: $REDIS_URL)",
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        default=os.environ.get("DRILLHALL_AGENT_KEY_FILE") or None,
        help="this agent's signing key, made when the host was enrolled "
        "(default: $DRILLHALL_AGENT_KEY_FILE)",
    )
    parser.add_argument(
        "--address",
        default=os.environ.get("DRILLHALL_AGENT_ADDRESS") or None,
        help="this host's address for the inventory (default: $DRILLHALL_AGENT_ADDRESS, "
        "or the namespace's eth0 IPv4 with --netns)",
    )
    parser.add_argument(
        "--label", action="append", type=_label_arg, default=[], metavar="KEY=VALUE",
        help="a label for the inventory (repeatable), e.g. --label role=db",
    )  # fmt: skip
    parser.add_argument(
        "--service", action="append", type=_service_arg, default=[], metavar="NAME:PORT[:KIND]",
        help="a service on this host for the inventory (repeatable), e.g. redis:6379:redis",
    )  # fmt: skip
    return parser.parse_args(argv)


def worker_argv(host: str) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "injector.agent", "worker",
        "-Q", agent_queue(host), "-P", "solo", "-n", f"agent-{host}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
    ]  # fmt: skip


def broker_endpoint(redis_url: str) -> str | None:
    """The broker's "ADDRESS:PORT" (a name resolved once), which the agent's own network
    faults leave alone (injector.nft.broker_exemption); None for a socket or a name that does
    not resolve."""
    parts = urlsplit(redis_url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        return None
    port = parts.port or 6379
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        try:
            infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            log.warning("cannot resolve the broker %s: %s", parts.hostname, exc)
            return None
        address = ipaddress.ip_address(infos[0][4][0])
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def worker_env(args: argparse.Namespace, state_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DRILLHALL_AGENT_NETNS", None)
    env.pop(BROKER_ENV, None)
    broker = broker_endpoint(args.redis_url)
    if broker:
        env[BROKER_ENV] = broker
    env.update(
        REDIS_URL=args.redis_url,
        DRILLHALL_AGENT_HOST=args.host,
        DRILLHALL_AGENT_STATE=str(state_dir),
        DRILLHALL_AGENT_SUPERVISOR_PID=str(os.getpid()),
    )
    if getattr(args, "key_file", None):
        env["DRILLHALL_AGENT_KEY_FILE"] = str(Path(args.key_file).resolve())
    if args.netns:
        env["DRILLHALL_AGENT_NETNS"] = args.netns
    # What the worker registers with the orchestrator once it is ready.
    env.pop("DRILLHALL_AGENT_ADDRESS", None)
    if getattr(args, "address", None):
        env["DRILLHALL_AGENT_ADDRESS"] = args.address
    env["DRILLHALL_AGENT_LABELS"] = json.dumps(dict(getattr(args, "label", [])))
    env["DRILLHALL_AGENT_SERVICES"] = json.dumps(list(getattr(args, "service", [])))
    # The worker imports injector.agent by name, whatever the current directory is.
    paths = [str(PROJECT_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def write_pid(path: Path, pid: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{pid}\n")
    os.replace(tmp, path)


class Supervisor:
    def __init__(
        self, args: argparse.Namespace, state_dir: Path, halt_flag: HaltFlag | None = None
    ) -> None:
        self.args = args
        self.state_dir = state_dir
        self.ledger = Ledger(state_dir)
        self.janitor = Janitor(self.ledger)
        # As this host's Redis user (its password from the credentials directory).
        self.halt_flag = halt_flag or HaltFlag.from_url(agent_redis_url(args.redis_url, args.host))
        self.halts = AgentHalt(HaltCopy(state_dir), self.halt_flag)
        self.halted_for: str | None = None
        self.stopping = threading.Event()
        self.janitor_stop = threading.Event()
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_started = 0.0
        self.quick_deaths = 0

    @property
    def supervisor_pid_file(self) -> Path:
        return self.state_dir / "supervisor.pid"

    @property
    def worker_pid_file(self) -> Path:
        return self.state_dir / "worker.pid"

    def run(self) -> int:
        write_pid(self.supervisor_pid_file, os.getpid())
        try:
            left = self.janitor.revert_all("agent start-up")
            if left:
                log.warning("reverted faults left by a previous agent: %s", ", ".join(left))
            kept = self.halts.copy.get()
            if kept is not None:
                log.warning(
                    "this agent is halted (%s, by %s): it refuses every fault until it hears "
                    "a release", kept.reason, kept.by or "someone",
                )  # fmt: skip
            janitor_thread = threading.Thread(
                target=self._janitor_loop, name="janitor", daemon=True
            )
            janitor_thread.start()
            try:
                self._monitor_worker()
            finally:
                self._stop_worker()
                self.janitor_stop.set()
                janitor_thread.join(timeout=5.0)
                self.janitor.revert_all("agent shutdown")
        finally:
            self.worker_pid_file.unlink(missing_ok=True)
            self.supervisor_pid_file.unlink(missing_ok=True)
        log.info("agent %s stopped", self.args.host)
        return 0

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        self.stopping.set()

    def _janitor_loop(self) -> None:
        while not self.janitor_stop.wait(JANITOR_PERIOD):
            try:
                self.janitor.sweep(time.time())
            except Exception:  # sweep does not raise; this keeps the thread alive regardless
                log.exception("janitor sweep failed")
            try:
                self.obey_halt()
            except Exception:
                log.exception("halt check failed")

    def obey_halt(self) -> list[str]:
        """While a halt is in force, revert whatever is active; returns what was reverted."""
        try:
            state = self.halts.current()
        except HaltUnknown:
            # Redis is gone and nothing is kept: leases run out without renewals, the sweep
            # handles it.
            return []
        if state is None:
            if self.halted_for is not None:
                log.info("halt released")
            self.halted_for = None
            return []
        if self.halted_for != state.reason:
            log.warning("halted (%s): reverting every fault, refusing new ones", state.reason)
            self.halted_for = state.reason
        if not self.ledger.active():
            return []
        reverted = self.janitor.revert_all(f"halted: {state.reason}")
        if reverted:
            log.warning("reverted under halt: %s", ", ".join(reverted))
        return reverted

    def _monitor_worker(self) -> None:
        self._start_worker()
        while not self.stopping.wait(MONITOR_PERIOD):
            assert self.worker is not None
            code = self.worker.poll()
            if code is None:
                continue
            lived = time.monotonic() - self.worker_started
            self.quick_deaths = self.quick_deaths + 1 if lived < QUICK_DEATH_SECONDS else 0
            backoff = self.quick_deaths >= QUICK_DEATHS_BEFORE_BACKOFF
            delay = BACKOFF_DELAY if backoff else RESTART_DELAY
            log.error(
                "worker %d died (exit status %s) after %.1f s; restarting in %.0f s",
                self.worker.pid, code, lived, delay,
            )  # fmt: skip
            self.worker_pid_file.unlink(missing_ok=True)
            # A restarted worker starts clean: whatever its predecessor applied is reverted
            # now rather than renewed by messages still queued for the dead worker.
            left = self.janitor.revert_all("worker died")
            if left:
                log.warning("reverted faults of the dead worker: %s", ", ".join(left))
            if self.stopping.wait(delay):
                break
            self._start_worker()

    def _start_worker(self) -> None:
        self.worker = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            worker_argv(self.args.host),
            env=worker_env(self.args, self.state_dir),
            cwd=PROJECT_ROOT,
        )
        self.worker_started = time.monotonic()
        write_pid(self.worker_pid_file, self.worker.pid)
        log.info("started worker %d for queue %s", self.worker.pid, agent_queue(self.args.host))

    def _stop_worker(self) -> None:
        worker = self.worker
        if worker is None or worker.poll() is not None:
            return
        worker.terminate()  # Celery's warm shutdown: finish the task at hand, then exit
        try:
            worker.wait(timeout=WORKER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.warning("worker %d ignored SIGTERM; killing it", worker.pid)
            worker.kill()
            worker.wait(timeout=5.0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    state_dir = (args.state_dir or default_state_dir(args.host)).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    # The janitor in this process rebuilds faults too; they find their artifacts through this.
    os.environ["DRILLHALL_AGENT_STATE"] = str(state_dir)
    if args.netns and not Path("/run/netns", args.netns).exists():
        log.warning("network namespace %s does not exist (yet)", args.netns)

    # One supervisor per ledger: a second one would fight the first over the same faults.
    lock_fd = os.open(state_dir / "supervisor.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.error("another agent supervisor already runs on %s", state_dir)
            return 2
        try:
            # The worker's gate reads these per request; a bad one stops the agent here, once,
            # after it reverted what a previous agent may have left applied.
            GateConfig.from_env(worker_env(args, state_dir)).key()
        except GateConfigError as exc:
            Janitor(Ledger(state_dir)).revert_all("agent start-up")
            log.error("agent %s not started: %s", args.host, exc)
            return 2
        supervisor = Supervisor(args, state_dir)
        signal.signal(signal.SIGTERM, supervisor.request_stop)
        signal.signal(signal.SIGINT, supervisor.request_stop)
        return supervisor.run()
    finally:
        os.close(lock_fd)


if __name__ == "__main__":
    code = main()
    gc.freeze()  # exiting: no last collection over what the supervisor made (agent.py's why)
    sys.exit(code)
