"""A fault never outlives its agent: SIGKILL of the agent worker mid-fault."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.e2e.stack import (
    ROOT,
    Stack,
    checkout_status,
    ensure_cli_user,
    nft_tables,
    ns_ping,
    proxy_processes,
)

PLAYBOOK = ROOT / "tests" / "fixtures" / "playbooks" / "e2e" / "long-partition.yaml"
HTTP_PLAYBOOK = PLAYBOOK.with_name("long-http-error.yaml")
LEASE = 4.0  # DRILLHALL_LEASE_SECONDS in the stack


def wait_for(predicate, timeout: float, interval: float = 0.2) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def test_sigkill_of_agent_worker_restores_traffic_within_the_lease(stack: Stack) -> None:
    ensure_cli_user(stack.env)
    run = subprocess.Popen(
        [sys.executable, "-m", "drills.cli.main", "run", str(PLAYBOOK)],
        cwd=ROOT,
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: not ns_ping("dh-web", "10.77.0.3"), timeout=30)
        assert nft_tables("dh-db1"), "partition applied but no nft table found"
        worker_pid = int((stack.state_dir / "agents" / "db1" / "worker.pid").read_text())
        os.kill(worker_pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: ns_ping("dh-web", "10.77.0.3"), timeout=LEASE + 3, interval=0.1)
        restored_after = time.monotonic() - killed
        print(f"traffic restored {restored_after:.2f}s after SIGKILL of the agent worker")
        assert restored_after <= LEASE + 1.5, f"traffic came back after {restored_after:.1f}s"
        assert ns_ping("dh-db1", "10.77.0.2")
        assert nft_tables("dh-db1") == []
        # The orchestrator noticed; an abort still ends the run cleanly.
        run.send_signal(signal.SIGINT)
        output, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 3, output
    assert "state: aborted" in output
    assert nft_tables("dh-db1") == []


def test_sigkill_of_agent_worker_stops_a_proxy_fault_and_its_process(stack: Stack) -> None:
    ensure_cli_user(stack.env)
    run = subprocess.Popen(
        [sys.executable, "-m", "drills.cli.main", "run", str(HTTP_PLAYBOOK)],
        cwd=ROOT, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: checkout_status() == 503, timeout=30)
        assert proxy_processes(), "http.error applied but no proxy process found"
        worker_pid = int((stack.state_dir / "agents" / "web" / "worker.pid").read_text())
        os.kill(worker_pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: checkout_status() == 200, timeout=LEASE + 3, interval=0.1)
        restored_after = time.monotonic() - killed
        print(f"checkout answered 200 again {restored_after:.2f}s after SIGKILL")
        assert restored_after <= LEASE + 1.5
        wait_for(lambda: not proxy_processes() and not nft_tables("dh-web"), timeout=3)
        run.send_signal(signal.SIGINT)
        output, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 3, output
    assert proxy_processes() == [] and nft_tables("dh-web") == []
