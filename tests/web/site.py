"""A real site for browser tests: daphne, optionally an orchestrator worker, its own SQLite.

Each site has its own SQLite file and state directory and the tests' Redis database, so it
runs beside a demo without touching it. Everything runs as separate processes, as
`make demo` starts them.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drills.cli.workers import active_queues, orchestrator_argv, web_argv
from tests.conftest import free_port, test_redis_url

# The e2e stack's environment and migrate: a site is the same processes without the lab.
from tests.e2e.stack import ROOT, manage, stack_env

# One user, the checkout-partition playbook and one run of it with the id asked for.
RUN_SEED = """
import django; django.setup()
from django.contrib.auth.models import Group, User
from drills.web.models import DrillRun, Membership, Playbook
user = User.objects.create_user(%(username)r, password=%(password)r)
# The user writes and runs the team's drills (author and operator, drills.web.roles).
team = Group.objects.create(name="platform-team")
for role in ("author", "operator"):
    Membership.objects.create(user=user, team=team, role=role)
playbook = Playbook.objects.create(name="checkout-partition", owner=user, team=team)
version = playbook.save_version(open(%(yaml)r).read(), author=user)
print(DrillRun.objects.create(id=%(run_id)d, version=version, started_by=user).id)
"""
CHECKOUT_YAML = Path(__file__).with_name("checkout-partition.yaml")

# Writes events through the real sink (store, then publish), as the orchestrator does.
EMIT = """
import json, sys
import django; django.setup()
from drills.web.stream import RunEventSink
sink = RunEventSink(int(sys.argv[1]))
for type_, data, t in json.loads(sys.argv[2]):
    sink.emit(type_, data, t)
"""


def worker_redis_url() -> str:
    """The Redis database for sites that run an orchestrator worker.

    Not the tests' usual one: an e2e stack runs its own orchestrator there, and the queue
    name is fixed, so either worker would take the other's drills.
    """
    default = test_redis_url().rsplit("/", 1)[0] + "/10"
    return os.environ.get("DRILLHALL_TEST_WORKER_REDIS_URL", default)


def unique_run_id() -> int:
    """A run id no other site on this Redis is likely to use.

    Channel groups are named run-<id> whatever the database behind them, so two sites on one
    Redis that both have a run 1 would each push the other's events to their pages.
    """
    return (os.getpid() % 100_000) * 10_000 + secrets.randbelow(10_000) + 1


@dataclass
class Site:
    env: dict[str, str]
    port: int
    run_id: int
    log: Path
    web: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def python(self, code: str, *args: str) -> str:
        # Our own interpreter running the tests' own scripts: no untrusted input.
        out = subprocess.run(  # noqa: S603
            [sys.executable, "-c", code, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    def emit(self, events: list[list[Any]]) -> None:
        self.python(EMIT, str(self.run_id), json.dumps(events))

    def start_web(self) -> None:
        argv = web_argv(self.port)
        with self.log.open("ab") as log:
            self.web = subprocess.Popen(  # noqa: S603
                argv, cwd=ROOT, env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 20
        while True:
            assert self.web.poll() is None, self.log.read_text()[-3000:]
            try:
                urllib.request.urlopen(self.url + "/accounts/login/", timeout=1)  # noqa: S310
                return
            except OSError:
                assert time.monotonic() < deadline, self.log.read_text()[-3000:]
                time.sleep(0.2)

    def stop_web(self) -> None:
        if self.web is not None:
            stop(self.web)
        self.web = None

    @contextmanager
    def serving(self) -> Iterator[Site]:
        """Daphne up for the block, stopped after it whatever happened."""
        self.start_web()
        try:
            yield self
        finally:
            self.stop_web()

    def worker_log(self, name: str) -> str:
        return self.log.with_name(f"{name}.log").read_text(errors="replace")[-3000:]

    def start_orchestrator(self, timeout: float = 30.0) -> None:
        """A Celery orchestrator worker on the site's broker, up once it consumes its queue."""
        name = f"orchestrator-{self.port}"
        with self.log.with_name(f"{name}.log").open("ab") as log:
            self.workers[name] = subprocess.Popen(  # noqa: S603
                orchestrator_argv(name), cwd=ROOT, env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while "orchestrator" not in active_queues(0.5, self.env["REDIS_URL"]):
            assert self.workers[name].poll() is None, self.worker_log(name)
            assert time.monotonic() < deadline, self.worker_log(name)
            time.sleep(0.3)

    def stop_workers(self) -> None:
        for proc in self.workers.values():
            stop(proc)
        self.workers.clear()


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def new_site(tmp_path: Path, redis_url: str) -> Site:
    """A migrated SQLite file and a free port for a daphne of its own (not started yet)."""
    # The stack's 4 s lease only makes renewals more frequent; no site test applies a fault.
    env = stack_env(tmp_path, redis_url)
    manage(env, "migrate", "--noinput", timeout=120)
    return Site(env=env, port=free_port(), run_id=0, log=tmp_path / "daphne.log")


@contextmanager
def run_site(tmp_path: Path, redis_url: str, username: str, password: str) -> Iterator[Site]:
    """A serving site where `username` owns checkout-partition and one run of it (run_id)."""
    site = new_site(tmp_path, redis_url)
    # These runs' streams are written by the test, not by an orchestrator: no reaper may end
    # them for want of one.
    site.env["DRILLHALL_REAPER"] = "false"
    seed = RUN_SEED % {"username": username, "password": password,
                       "yaml": str(CHECKOUT_YAML), "run_id": unique_run_id()}  # fmt: skip
    site.run_id = int(site.python(seed).strip())
    with site.serving():
        yield site


def log_in(page: Any, site: Site, username: str, password: str) -> None:
    page.goto(site.url + "/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-button")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def open_run_page(page: Any, site: Site, username: str, password: str) -> None:
    """Log in and open the site's run page; returns once its event stream is live."""
    log_in(page, site, username, password)
    page.goto(f"{site.url}/runs/{site.run_id}/")
    page.wait_for_function("document.querySelector('#connection').textContent === 'live'")


def log_seqs(page: Any) -> list[int]:
    """The seqs in the run page's event log, top to bottom."""
    return page.eval_on_selector_all("#event-log li", "els => els.map(e => +e.dataset.seq)")


def wait_for_seq(page: Any, seq: int, timeout_ms: float = 15_000) -> None:
    page.wait_for_function(
        f"document.querySelector('#event-log li:last-child')?.dataset.seq == {seq}",
        timeout=timeout_ms,
    )
