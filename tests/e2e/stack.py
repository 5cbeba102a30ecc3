"""The real thing for end-to-end tests: lab, Redis, orchestrator worker, agents, daphne.

Everything runs as separate processes with its own SQLite file, Redis database and state
directory, exactly as `make demo` starts them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drills.cli import workers
from drills.lab.topology import DEFAULT_TOPOLOGY
from injector.credentials import ADMIN_USER, credentials_dir, password_file, without_credentials
from injector.redis_acl import enrolled_hosts, ensure_users

ROOT = Path(__file__).resolve().parents[2]
# Lab hosts that get an agent in the stack (see drills/lab/topology.py for the whole lab).
LAB_HOSTS = {
    "web": ("dh-web", "10.77.0.2"),
    "db1": ("dh-db1", "10.77.0.3"),
    "db2": ("dh-db2", "10.77.0.4"),
}


def active_queues(redis_url: str, agents: Iterable[str] = ()) -> set[str]:
    """The orchestrator's queues, and those of ``agents`` whose agent answers a ping."""
    return workers.active_queues(timeout=0.5, broker_url=redis_url, agents=agents)


def manage(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


# The person `drillhall run` acts as (DRILLHALL_USER, set by stack_env): the first admin of a
# fresh install, made in each test database by ensure_cli_user.
CLI_USER = "e2e"
_CLI_USER_MADE: set[str] = set()


def ensure_cli_user(env: dict[str, str]) -> None:
    """Make CLI_USER an admin in ``env``'s database (migrating it first), once per file."""
    database = env.get("DRILLHALL_SQLITE_PATH", "")
    if database in _CLI_USER_MADE:
        return
    manage(
        env, "shell", "-c",
        "from django.core.management import call_command; "
        "call_command('migrate', verbosity=0, interactive=False); "
        f"call_command('grant', {CLI_USER!r}, 'admin', '--create')",
    )  # fmt: skip
    _CLI_USER_MADE.add(database)


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    if args[:1] == ("run",):
        ensure_cli_user(env)
    return subprocess.run(
        [sys.executable, "-m", "drills.cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ns_ping(netns: str, address: str) -> bool:
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "ping", "-c1", "-W1", "-q", address],
        capture_output=True,
        timeout=5,
    )
    return out.returncode == 0


def nft_tables(netns: str) -> list[str]:
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "list", "tables"],
        capture_output=True,
        text=True,
        timeout=5,
    )
    return [line for line in out.stdout.splitlines() if "drillhall" in line]


@dataclass
class Stack:
    env: dict[str, str]
    tmp: Path
    port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state_dir(self) -> Path:
        return Path(self.env["DRILLHALL_STATE_DIR"])

    def start(self, name: str, argv: list[str]) -> None:
        log = (self.tmp / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, name: str) -> None:
        """Stop one process of the stack (beat, to miss a fire time)."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-4000:]

    def up(self) -> None:
        out = cli(self.env, "lab", "up")
        assert out.returncode == 0, out.stderr + out.stdout
        self.start("web", workers.web_argv(self.port))
        self.start("orchestrator", workers.orchestrator_argv(f"orch-{self.port}"))
        for host, (netns, _) in LAB_HOSTS.items():
            # The stack's own broker (a trial's may be another than this process's).
            self.start(f"agent-{host}", workers.agent_argv(host, netns, self.env["REDIS_URL"]))
        agents = {f"agent.{host}" for host in LAB_HOSTS}
        wanted = {"orchestrator"} | agents
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                assert proc.poll() is None, f"{name} died:\n{self.log(name)}"
            if wanted <= active_queues(self.env["REDIS_URL"], agents):
                break
            time.sleep(0.5)
        else:
            raise AssertionError("workers did not come up: " + self.log("orchestrator"))
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(self.url + "/accounts/login/", timeout=1)  # noqa: S310
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def down(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        cli(self.env, "lab", "down")


# A DSN with no password: a lab address where no PostgreSQL listens (canaries fail harmlessly).
PROBE_DSN = "host=10.77.0.4 port=5432 dbname=shop user=drill connect_timeout=2"
PROBE_SECRET_ENV = "LAB_PG_DSN"
PROBE_SECRET_NAME = "lab-pg"


def stack_env(tmp: Path, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        # No password in anyone's environment: each process adds its own Redis user's.
        REDIS_URL=without_credentials(redis_url),
        DRILLHALL_SQLITE_PATH=str(tmp / "drillhall.sqlite3"),
        DRILLHALL_STATE_DIR=str(tmp / "state"),
        DRILLHALL_LEASE_SECONDS="4",
        DRILLHALL_RUN_LEASE_SECONDS="4",
        DRILLHALL_REAPER="true",  # the servers of a stack end lost runs, as in production
        # Beat's game-day clock ticks every second; a fire time 5 s late was missed.
        DRILLHALL_GAMEDAY_TICK_SECONDS="1",
        DRILLHALL_GAMEDAY_ON_TIME_SECONDS="5",
        DRILLHALL_USER=CLI_USER,
        DJANGO_SETTINGS_MODULE="drillhall.settings",
        PYTHONPATH=str(ROOT),
    )
    # Named secrets as an operator would set them, so playbooks may use dsn_env and secret:
    # one variable on the allowed list, one store of the orchestrator's alone.
    store = tmp / "probe-secrets.json"
    store.write_text(json.dumps({PROBE_SECRET_NAME: PROBE_DSN}))
    store.chmod(0o600)
    env.update(
        DRILLHALL_PROBE_SECRET_ENV=PROBE_SECRET_ENV,
        DRILLHALL_SECRETS_FILE=str(store),
        **{PROBE_SECRET_ENV: PROBE_DSN},
    )
    return env


def checkout_status() -> int:
    """GET /checkout on the lab's web host from the root namespace: 0 when unreachable."""
    try:
        with urllib.request.urlopen("http://10.77.0.2:8080/checkout", timeout=2) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def proxy_processes() -> list[int]:
    """Pids of any injector proxy left running on this machine."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"injector.proxy" in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def start_redis(
    port: int, log: Path, timeout: float = 10.0, args: Iterable[str] = ()
) -> subprocess.Popen[bytes]:
    """A private redis-server (a broker of a test's own) answering PING, made like the one
    `make setup` makes: the set-up's users (give_users), on loopback and, while the lab is
    up, on its bridge (where lab agents reach it)."""
    import redis

    bind = ["127.0.0.1", f"-{DEFAULT_TOPOLOGY.bridge_address}"]  # "-": only if it exists
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", *bind, "--save", "",
         "--appendonly", "no", "--dir", str(log.parent), *args, "--daemonize", "no"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    client = redis.Redis(port=port, socket_timeout=0.5)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.ping():
                break
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"redis-server on port {port} did not answer in {timeout:g}s")
        time.sleep(0.1)
    give_users(client)
    client.close()
    return proc


def give_users(client: Any) -> None:
    """The users `make setup` gives the tests' Redis (with the same passwords, and every host
    enrolled in the credentials directory), to a fresh Redis that has none."""
    directory = credentials_dir()
    if password_file(directory, ADMIN_USER).is_file():
        ensure_users(client, directory, enrolled_hosts(directory))
