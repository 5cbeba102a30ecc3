"""`drillhall run` as pipelines use it, on the real lab with the workers it starts itself:
two databases against one state directory, five runs at once, and a SIGTERM from `timeout`.

These bring the lab up and down through the CLI, so they run before the session's stack.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drills.cli.worker_pool import PoolState, process_start
from tests.conftest import have_root, redis_up, require
from tests.conftest import test_redis_url as redis_url_of_tests
from tests.e2e.stack import ROOT, cli, ensure_cli_user, nft_tables, stack_env

EXAMPLE = ROOT / "examples" / "partition-demo.yaml"
LONG_PARTITION = ROOT / "tests" / "fixtures" / "playbooks" / "e2e" / "long-partition.yaml"
CONCURRENT = sorted(
    (ROOT / "tests" / "fixtures" / "playbooks" / "e2e" / "concurrent").glob("*.yaml")
)
# The tests' Redis server (and its users), another database: no workers listen there, the CLI
# starts its own.
REDIS = redis_url_of_tests().rsplit("/", 1)[0] + "/10"


@pytest.fixture
def lab_env(tmp_path: Path) -> dict[str, str]:
    require(have_root(), "needs root (the lab)")
    require(redis_up(REDIS), "needs Redis")
    return stack_env(tmp_path, REDIS)


def run_cli(env: dict[str, str], playbook: Path) -> subprocess.Popen[str]:
    ensure_cli_user(env)
    return subprocess.Popen(
        [sys.executable, "-m", "drills.cli.main", "run", str(playbook), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def pool_pids(var: Path) -> set[int]:
    return {w.pid for w in PoolState.load(var / "run" / "workers.json").workers}


def test_two_fresh_databases_run_back_to_back_on_one_state_directory(
    lab_env: dict[str, str], tmp_path: Path
) -> None:
    # A ledger that already holds an entry of an earlier run 1 (of another database).
    first = cli(lab_env, "run", str(EXAMPLE), "--quiet", timeout=240)
    assert first.returncode == 0, first.stdout + first.stderr
    ledger = Path(lab_env["DRILLHALL_STATE_DIR"]) / "agents" / "db1"
    before = {p.name for p in ledger.glob("r*.json")}
    assert len(before) == 1
    for name in ("second", "third"):
        env = {**lab_env, "DRILLHALL_SQLITE_PATH": str(tmp_path / f"{name}.sqlite3")}
        out = cli(env, "run", str(EXAMPLE), "--quiet", timeout=240)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "run 1: partition-demo v1 started" in out.stdout  # a fresh database each time
        assert "verdict: passed" in out.stdout
    after = {p.name for p in ledger.glob("r*.json")}
    assert before < after and len(after) == 3  # three runs numbered 1, three fault ids


def test_five_runs_at_once_each_end_with_their_own_verdict(lab_env: dict[str, str]) -> None:
    assert len(CONCURRENT) == 5
    var = ROOT / "var"
    runs = []
    pids: set[int] = set()
    try:
        for playbook in CONCURRENT:
            runs.append((playbook, run_cli(lab_env, playbook)))
            time.sleep(2)
            pids |= pool_pids(var)
        outputs = {}
        for playbook, proc in runs:
            out, _ = proc.communicate(timeout=240)
            outputs[playbook.stem] = (proc.returncode, out)
    finally:
        for _, proc in runs:
            if proc.poll() is None:
                proc.kill()
    for name, (code, out) in outputs.items():
        assert code in (0, 1), f"{name} exited {code}:\n{out}"
        verdicts = [line for line in out.splitlines() if line.startswith("verdict: ")]
        assert len(verdicts) == 1, out
    assert _open_runs(lab_env) == 0  # every run is closed
    # The pool's workers (and the lab it brought up) went with the last run.
    assert pids, "the runs started no workers"
    assert [pid for pid in pids if process_start(pid) is not None] == []
    assert PoolState.load(var / "run" / "workers.json").holders == {}
    assert not Path("/run/netns/dh-db1").exists(), "the lab the first run brought up is still up"


def _open_runs(env: dict[str, str]) -> int:
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from drills.web.models import DrillRun; "
         "print(DrillRun.objects.filter(finished_at__isnull=True).count())"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return int(out.stdout.strip().splitlines()[-1])


def test_sigterm_aborts_the_run_reverts_its_fault_and_stops_what_it_started(
    lab_env: dict[str, str],
) -> None:
    var = ROOT / "var"
    proc = run_cli(lab_env, LONG_PARTITION)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not nft_tables("dh-db1"):
            time.sleep(0.2)
        assert nft_tables("dh-db1"), "the partition never started"
        pids = pool_pids(var)
        proc.send_signal(signal.SIGTERM)  # what `timeout` sends
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out
    assert "abort requested (SIGTERM); reverting faults..." in out
    assert "verdict: aborted (aborted from the command line (SIGTERM))" in out
    assert "state: reverting" in out, out
    assert pids and [pid for pid in pids if process_start(pid) is not None] == []
    assert not Path("/run/netns/dh-db1").exists(), "the lab it brought up is still there"
    assert PoolState.load(var / "run" / "workers.json").holders == {}
