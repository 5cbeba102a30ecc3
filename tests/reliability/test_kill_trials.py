"""Randomized kill trials: at a random moment of a real lab drill, kill a part of Drillhall.

Each trial runs a drill that holds every kind of thing a fault can leave behind (an nftables
partition, a transparent proxy, a FUSE layer, and the eBPF collectors that prove them), and at
a random moment does one of: SIGKILL an agent's worker, SIGKILL the orchestrator worker,
SIGKILL the web server, or kill Redis and start it again (from its append-only file). Then:

* the run is in a terminal state with a reason, and its event numbers have no gap;
* nothing is left behind: no drillhall nft table, proxy, FUSE mount, BPF program attached to
  a kernel event by an agent (agents keep their compiled programs between runs, detached:
  ebpf/warm.py), or child process of a fault;
* the next drill passes.

The trials share one lab and one stack of their own, with a private Redis (so killing it harms
nobody else) and short leases. The seed is printed; DRILLHALL_TRIAL_SEED replays a sequence.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drills.cli import workers
from tests.conftest import free_port, have_root, require
from tests.e2e.stack import (
    LAB_HOSTS,
    ROOT,
    Stack,
    ensure_cli_user,
    nft_tables,
    stack_env,
    start_redis,
)

TRIALS = int(os.environ.get("DRILLHALL_TRIALS", "20"))
LEASE = 3.0  # fault leases and run leases in the trials' stack
KILLS = ("agent", "orchestrator", "web", "redis")
# Modules a fault runs as children; none may outlive its drill.
FAULT_CHILDREN = (b"injector.proxy", b"injector.fusefs", b"injector.dnsstub", b"injector.stress")

TRIAL_DRILL = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {name: kill-trial, description: "a partition, a proxy and a FUSE layer at once"}
targets:
  web: {host: web}
  files: {host: web, service: files}
  db1: {host: db1}
  db2: {host: db2}
probes:
  - name: checkout
    http: {url: "http://web:8080/checkout", timeout: 1s}
    every: 250ms
  - name: writes  # (re)creates the file the reads read; writes are not delayed
    http: {url: "http://web:8081/write", timeout: 1s}
    every: 1s
  - name: reads
    http: {url: "http://web:8081/read", timeout: 1s}
    every: 250ms
steps:
  - wait: 1s
  - parallel:
      - {fault: network.partition, target: db1, from: [web], duration: 4s}
      - {fault: network.latency, target: web, to: [db2], ports: [6379], latency: 20ms, duration: 4s}
      - {fault: io.delay, target: files, path: "%(files)s", delay: 5ms, operations: [read],
         duration: 4s}
limits: {max_duration: 2m}
"""
# The drill after each trial: the short partition the reliability tests use.
CLEAN_DRILL = (
    ROOT / "tests" / "fixtures" / "playbooks" / "e2e" / "short-partition.yaml"
).read_text()


class TrialStack(Stack):
    """The e2e stack, with a Redis of its own that a trial may kill."""

    redis: subprocess.Popen[bytes] | None = None
    redis_port: int = 0

    def start_redis(self) -> None:
        # Persistent, as make setup's is; its users are given again at each start, as the
        # set-up would (a Redis without an ACL file forgets them).
        (self.tmp / "redis").mkdir(exist_ok=True)
        self.redis = start_redis(self.redis_port, self.tmp / "redis.log", args=[
            "--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(self.tmp / "redis"),
        ])  # fmt: skip


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    raise AssertionError(f"not within {timeout:g} s: {what}")


@pytest.fixture(scope="module")
def trial_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrialStack]:
    require(have_root(), "kill trials need root (the lab)")
    tmp = tmp_path_factory.mktemp("trials")
    port = free_port()
    probe = start_redis(port, tmp / "probe-redis.log")  # is redis-server there at all?
    probe.terminate()
    probe.wait(timeout=10)
    env = stack_env(tmp, f"redis://127.0.0.1:{port}/0")
    env.update(
        DRILLHALL_LEASE_SECONDS=str(LEASE),
        DRILLHALL_RUN_LEASE_SECONDS=str(LEASE),
        DRILLHALL_REQUEUE_SECONDS="5",
    )
    stack = TrialStack(env=env, tmp=tmp, port=free_port())
    stack.redis_port = port
    stack.start_redis()
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        if stack.redis is not None:
            stack.redis.terminate()
            stack.redis.wait(timeout=10)


def drill(stack: TrialStack, text: str, name: str) -> Path:
    files = stack.state_dir / "lab" / "data" / "files"
    path = stack.tmp / f"{name}.yaml"
    path.write_text(text % {"files": files} if "%(files)s" in text else text)
    return path


def start_cli(stack: TrialStack, playbook: Path) -> subprocess.Popen[str]:
    ensure_cli_user(stack.env)
    return subprocess.Popen(
        [sys.executable, "-m", "drills.cli.main", "run", str(playbook), "--quiet"],
        cwd=ROOT, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def kill(stack: TrialStack, what: str, rng: random.Random) -> str:
    if what == "agent":
        host = rng.choice(sorted(LAB_HOSTS))
        pid = int((stack.state_dir / "agents" / host / "worker.pid").read_text())
        os.kill(pid, signal.SIGKILL)  # its supervisor reverts from the ledger and restarts it
        return f"SIGKILL of {host}'s agent worker"
    if what in ("orchestrator", "web"):
        os.killpg(stack.procs[what].pid, signal.SIGKILL)
        stack.procs[what].wait(timeout=10)
        return f"SIGKILL of the {what} process"
    assert stack.redis is not None
    stack.redis.kill()
    stack.redis.wait(timeout=10)
    time.sleep(rng.uniform(0.2, 2.0))
    stack.start_redis()
    return "Redis killed and started again"


def restore(stack: TrialStack, timeout: float = 60) -> None:
    """Bring back what a trial killed, as a supervisor (systemd, Restart=always) would: any
    process that exited is started again until every queue has its worker. (A worker left deaf
    by a broker restart exits by itself: injector.watchdog.)"""
    agents = {f"agent.{h}" for h in LAB_HOSTS}
    queues = {"orchestrator"} | agents
    broker = stack.env["REDIS_URL"]
    deadline = time.monotonic() + timeout
    while True:
        if stack.procs["orchestrator"].poll() is not None:
            stack.start("orchestrator", workers.orchestrator_argv(f"orch-{time.time_ns()}"))
        if stack.procs["web"].poll() is not None:
            stack.start("web", workers.web_argv(stack.port))
        try:
            if queues <= workers.active_queues(0.5, broker, agents):
                return
        except Exception:  # Redis just started again: ask once more
            pass
        assert time.monotonic() < deadline, f"workers not back within {timeout:g} s"
        time.sleep(0.5)


def run_record(stack: TrialStack, run_id: int) -> tuple[str, dict[str, object], list[int]]:
    import json

    with sqlite3.connect(stack.env["DRILLHALL_SQLITE_PATH"]) as db:
        state, result = db.execute(
            "SELECT state, result FROM drills_drillrun WHERE id = ?", (run_id,)
        ).fetchone()
        seqs = [row[0] for row in db.execute(
            "SELECT seq FROM drills_runevent WHERE run_id = ? ORDER BY seq", (run_id,)
        )]  # fmt: skip
    return state, json.loads(result), seqs


def leftovers(stack: TrialStack) -> list[str]:
    found = [f"nft table {t} in {ns}" for ns, _ in LAB_HOSTS.values() for t in nft_tables(ns)]
    mounts = Path("/proc/mounts").read_text().splitlines()
    found += [f"mount {m}" for m in mounts if "drillhall" in m and "fuse" in m]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes()
        except OSError:
            continue
        if any(module in argv for module in FAULT_CHILDREN):
            words = argv.replace(b"\0", b" ").decode(errors="replace")[:120]
            found.append(f"process {cmdline.parent.name}: {words}")
    for host in LAB_HOSTS:
        try:
            pid = int((stack.state_dir / "agents" / host / "worker.pid").read_text())
        except (OSError, ValueError):
            continue
        attached = attached_tracepoints(pid)
        if attached:
            found.append(f"{attached} tracepoints still attached by {host}'s agent")
    return found


def attached_tracepoints(pid: int) -> int:
    """Tracepoints the process has a BPF program attached to: bcc attaches each through a perf
    event, whose file descriptor it closes on detach. (A compiled program an agent keeps for
    its next run holds a program descriptor but no perf event: it sees nothing.)"""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            count += os.readlink(fd) == "anon_inode:[perf_event]"
        except OSError:
            continue
    return count


@pytest.mark.timeout(1800)
def test_kill_trials_leave_nothing_behind_and_the_next_drill_passes(
    trial_stack: TrialStack, capsys: pytest.CaptureFixture[str]
) -> None:
    def say(line: str) -> None:
        with capsys.disabled():  # in CI's output: the seed, and what each trial did
            print(line, flush=True)

    seed = int(os.environ.get("DRILLHALL_TRIAL_SEED") or random.SystemRandom().randrange(10**6))
    say(f"\nkill trials: {TRIALS} trials, seed {seed} (DRILLHALL_TRIAL_SEED={seed} replays)")
    rng = random.Random(seed)
    stack = trial_stack
    trial, clean = drill(stack, TRIAL_DRILL, "trial"), drill(stack, CLEAN_DRILL, "clean")
    kinds = [KILLS[i % len(KILLS)] for i in range(TRIALS)]  # each kind five times or more
    rng.shuffle(kinds)
    for number, what in enumerate(kinds, start=1):
        cli = start_cli(stack, trial)
        at = rng.uniform(1.0, 10.0)  # from before the run is created to its reverts
        time.sleep(at)
        done = kill(stack, what, rng)
        # As systemd would: what was killed comes back a moment later, while the run goes on
        # (an agent's supervisor restarts its own worker).
        time.sleep(rng.uniform(0.5, 3.0))
        restore(stack)
        out, _ = cli.communicate(timeout=120)
        started = [line for line in out.splitlines() if line.startswith("run ")]
        verdict = [line for line in out.splitlines() if line.startswith("verdict: ")]
        say(f"trial {number:2}: {done} at {at:4.1f} s -> exit {cli.returncode}; "
              f"{verdict[0] if verdict else out.strip().splitlines()[-1]}")  # fmt: skip
        if started:
            run_id = int(started[0].split()[1].rstrip(":"))
            state, result, seqs = run_record(stack, run_id)
            assert state in ("passed", "failed", "aborted", "error"), (number, state, out)
            assert result.get("state") == state and result.get("reason"), (number, result)
            assert seqs == list(range(1, len(seqs) + 1)), (number, seqs)
        else:  # killed before the run was created: the CLI says why, and exits 3
            assert cli.returncode == 3, out
        wait_for(lambda: not leftovers(stack), LEASE + 8, f"trial {number}: {leftovers(stack)}")
        after = subprocess.run(
            [sys.executable, "-m", "drills.cli.main", "run", str(clean), "--quiet"],
            cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert after.returncode == 0, f"trial {number}: the next drill: {after.stdout}"
