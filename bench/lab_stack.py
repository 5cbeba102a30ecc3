"""The benches' lab: the lab's namespaces, an orchestrator worker and the lab's agents, on a
Redis database and a SQLite file of the bench's own (bench/first_fault.py,
bench/concurrent_drills.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LAB_HOSTS = {"web": "dh-web", "db1": "dh-db1", "db2": "dh-db2"}
USER = "bench"


def environment(tmp: Path, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url,
        DRILLHALL_SQLITE_PATH=str(tmp / "drillhall.sqlite3"),
        DRILLHALL_STATE_DIR=str(tmp / "state"),
        DRILLHALL_USER=USER,
        DJANGO_SETTINGS_MODULE="drillhall.settings",
        PYTHONPATH=str(ROOT),
    )
    return env


def call(env: dict[str, str], *argv: str, timeout: float = 120) -> str:
    out = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({out.returncode}):\n{out.stderr}{out.stdout}")
    return out.stdout


class Workers:
    """The lab, the orchestrator workers and the lab's agents, running for the whole bench."""

    def __init__(
        self,
        env: dict[str, str],
        tmp: Path,
        web_port: int | None = None,
        orchestrators: int | None = None,
    ) -> None:
        self.env, self.tmp = env, tmp
        self.web_port = web_port  # also the web server (HTTP and websockets), on loopback
        # Orchestrator worker processes on the one queue; by default as many as `make demo`
        # starts (DRILLHALL_ORCHESTRATOR_PROCESSES, one per core).
        self.orchestrators = orchestrators or 0
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def orchestrator_pids(self) -> list[int]:
        return [proc.pid for proc in self.procs[: self.orchestrators]]

    @property
    def agent_pids(self) -> dict[str, int]:
        """Each lab host's agent (its supervisor), started after the orchestrators."""
        agents = self.procs[self.orchestrators : self.orchestrators + len(LAB_HOSTS)]
        return dict(zip(LAB_HOSTS, (proc.pid for proc in agents), strict=True))

    def up(self) -> None:
        os.environ.update(self.env)
        import django

        django.setup()
        from django.conf import settings

        from drills.cli import workers

        self.orchestrators = self.orchestrators or settings.DRILLHALL_ORCHESTRATOR_PROCESSES
        call(self.env, "-m", "drills.cli.main", "lab", "up")
        names = [f"orch-bench-{i}" for i in range(self.orchestrators)]
        argvs = [workers.orchestrator_argv(name) for name in names]
        argvs += [workers.agent_argv(h, ns, self.env["REDIS_URL"]) for h, ns in LAB_HOSTS.items()]
        if self.web_port is not None:
            argvs.append(workers.web_argv(self.web_port))
        for i, argv in enumerate(argvs):
            log = (self.tmp / f"worker-{i}.log").open("ab")
            self.procs.append(subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            ))  # fmt: skip
        agents = {f"agent.{h}" for h in LAB_HOSTS}
        deadline = time.monotonic() + 60
        while not ({"orchestrator"} | agents) <= workers.active_queues(0.5, agents=agents):
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not come up; logs in " + str(self.tmp))
            time.sleep(0.5)
        # Every orchestrator, not the first that answers: each takes its share of the runs.
        from drillhall.celery import app

        nodes = [workers.node_name(name) for name in names]
        while len(app.control.ping(destination=nodes, timeout=0.5)) < len(nodes):
            if time.monotonic() > deadline:
                raise SystemExit("the orchestrators did not all come up; logs in " + str(self.tmp))

    def down(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        subprocess.run([sys.executable, "-m", "drills.cli.main", "lab", "down"], cwd=ROOT,
                       env=self.env, capture_output=True, timeout=120)  # fmt: skip

    def keep_logs(self, why: str) -> Path:
        """The workers' logs, copied out of the bench's temporary directory (deleted at its
        end) into var/bench-logs/, so that a run that went wrong can be looked into."""
        kept = ROOT / "var" / "bench-logs" / time.strftime("%Y%m%dT%H%M%S")
        kept.mkdir(parents=True, exist_ok=True)
        names = [f"orchestrator {i + 1}" for i in range(self.orchestrators)]
        names += [f"agent of {host}" for host in LAB_HOSTS]
        names += ["web server"] if self.web_port is not None else []
        index = [f"{why}\n"]
        for i, name in enumerate(names):
            log = self.tmp / f"worker-{i}.log"
            if log.exists():
                shutil.copy(log, kept / log.name)
                index.append(f"{log.name}: {name}\n")
        (kept / "README").write_text("".join(index))
        return kept


@contextmanager
def bench_database(redis_url: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """A directory, environment and migrated SQLite database of the bench's own, with the
    bench's admin user; gone afterwards. (tmp, env)."""
    with tempfile.TemporaryDirectory(prefix="drillhall-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = environment(tmp, redis_url)
        call(env, "manage.py", "migrate", "--verbosity", "0")
        call(env, "manage.py", "grant", USER, "admin", "--create")
        yield tmp, env
