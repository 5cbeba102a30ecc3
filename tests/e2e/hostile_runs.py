"""Running hostile playbooks on the lab, and watching what they start.

``ExecWitness`` keeps every exec the kernel reports (ebpf.process_exec) from a thread, so a test
can ask afterwards which programs ran between two moments in a process tree. ``Victims`` are
throwaway processes in the web host's namespace for the process faults to hit, and
``drill`` runs one playbook with ``drillhall run``, resuming it through the web page when it
pauses, as an operator would.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebpf.process_exec import ExecEvent, ProcessExec
from tests.e2e.stack import ROOT, Stack, ensure_cli_user

CGROUP_HIERARCHY = Path("/sys/fs/cgroup/pids")
RUN_STARTED = re.compile(r"^run ([0-9]+): ")


class ExecWitness:
    """Every exec on the machine while it runs, read from the kernel every 0.2 s."""

    def __init__(self) -> None:
        self.collector = ProcessExec()
        self.events: list[ExecEvent] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self.collector.attach()
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            self.events.extend(self.collector.read())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.collector.close()

    def between(self, start: float, end: float, roots: set[int]) -> list[ExecEvent]:
        """Execs in (start, end] (time.monotonic()) by processes that descend from roots."""
        self._drain()
        with self._lock:
            return [e for e in self.events if start < e.monotonic <= end and e.descends_from(roots)]

    @property
    def lost(self) -> int:
        return self.collector.lost


@dataclass
class Victims:
    """Processes in a lab host's namespace for process.kill and process.pause to find.

    ``kill_name`` is the argv[0] of one that may be killed (a new one per drill); ``held`` is
    paused by its pid file and by its cgroup (a v1 ``pids`` group of its own).
    """

    netns: str
    workdir: Path
    kill_name: str = "dh-victim-kill"
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def pidfile(self) -> Path:
        return self.workdir / "victim.pid"

    @property
    def cgroup(self) -> str:
        return f"drillhall-hostile-{os.getpid()}"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        held = self._spawn("dh-victim-hold")
        self.pidfile.write_text(f"{held.pid}\n")
        group = CGROUP_HIERARCHY / self.cgroup
        group.mkdir(exist_ok=True)
        (group / "cgroup.procs").write_text(str(held.pid))
        self.ready_to_kill()

    def ready_to_kill(self) -> None:
        """A live process named kill_name, for the next drill's process.kill."""
        if not any(p.poll() is None and p.args[-1] == self.kill_name for p in self.procs):  # type: ignore[index]
            self._spawn(self.kill_name)

    def _spawn(self, argv0: str) -> subprocess.Popen[bytes]:
        assert Path("/run/netns", self.netns).exists(), (
            f"the lab's namespace {self.netns} is gone: something took the lab down mid-test "
            "(a lab test run without `flock /work/tmp/lab.lock`?)"
        )
        # execv keeps the pid: the Popen's pid is the sleeping process, named argv0.
        code = f"import os; os.execv('/bin/sleep', [{argv0!r}, '600'])"
        proc = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
            ["ip", "netns", "exec", self.netns, sys.executable, "-c", code, argv0],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 5
        while _argv0(proc.pid) != argv0:
            assert time.monotonic() < deadline, f"victim {argv0} did not start"
            time.sleep(0.02)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        group = CGROUP_HIERARCHY / self.cgroup
        if group.exists():
            group.rmdir()


def _argv0(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return os.path.basename(raw.split(b"\0", 1)[0].decode(errors="replace"))


class Operator:
    """A signed-in browser session of the stack's owner, for what a drill asks of a person."""

    def __init__(self, stack: Stack, username: str, password: str) -> None:
        self.url = stack.url
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.jar = jar
        self.post("/accounts/login/", {"username": username, "password": password})

    def _csrf(self) -> str:
        for cookie in self.jar:
            if cookie.name == "csrftoken":
                return str(cookie.value)
        self.opener.open(self.url + "/accounts/login/", timeout=10).read()
        return self._csrf()

    def post(self, path: str, form: dict[str, str] | None = None) -> int:
        data = {**(form or {}), "csrfmiddlewaretoken": self._csrf()}
        request = urllib.request.Request(  # noqa: S310 (the stack's own loopback URL)
            self.url + path,
            data=urllib.parse.urlencode(data).encode(),
            headers={"Referer": self.url + path},
        )
        with self.opener.open(request, timeout=10) as response:
            return int(response.status)

    def resume(self, run_id: int) -> None:
        assert self.post(f"/runs/{run_id}/resume") == 200


@dataclass
class Drill:
    """One ``drillhall run``: what it printed, its exit code and its stored run document."""

    returncode: int
    output: str
    document: dict[str, Any]
    started: float
    ended: float
    cli_pid: int


def drill(stack: Stack, playbook: Path, operator: Operator, timeout: float = 90) -> Drill:
    """Run playbook to its end with the CLI; resume it each time it pauses."""
    out_json = playbook.with_suffix(".run.json")
    ensure_cli_user(stack.env)  # drillhall run acts as a named user (DRILLHALL_USER)
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
        [sys.executable, "-m", "drills.cli.main", "run", str(playbook), "--json", str(out_json)],
        cwd=ROOT,
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines: list[str] = []
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    run_id: int | None = None
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="backslashreplace").rstrip("\n")
            lines.append(line)
            found = RUN_STARTED.match(line)
            if found:
                run_id = int(found.group(1))
            if " paused at step " in line and run_id is not None:
                operator.resume(run_id)
        proc.wait()
    finally:
        timer.cancel()
    ended = time.monotonic()
    output = "\n".join(lines)
    assert proc.returncode != -9, f"the drill outlived {timeout:g}s:\n{output[-3000:]}"
    document = json.loads(out_json.read_text()) if out_json.exists() else {}
    return Drill(proc.returncode, output, document, started, ended, proc.pid)
