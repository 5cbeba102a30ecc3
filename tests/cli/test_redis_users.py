"""The set-up's Redis step (`python -m drills.cli.redis_users`, run by scripts/setup.sh), on
real redis-servers of the test's own: one with no users yet (as from an earlier checkout),
the same one again, one that keeps its users in an ACL file across a restart, and one whose
users came from another credentials directory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from injector.credentials import ADMIN_USER, ENV, SERVER_USER, agent_user, password_file
from injector.redis_acl import check_users, ensure_agent
from tests.acl_broker import AclBroker, acl_broker
from tests.conftest import free_port, require

ROOT = Path(__file__).resolve().parents[2]


def set_up(broker: AclBroker, directory: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, ENV: str(directory or broker.credentials), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "drills.cli.redis_users", "--url", broker.url],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def passwords(directory: Path) -> list[str]:
    return [p.read_text().strip() for p in directory.rglob("*.password")]


def test_a_redis_without_users_gets_them_and_a_second_run_changes_nothing(
    tmp_path: Path,
) -> None:
    with acl_broker(tmp_path, None) as broker:
        first = set_up(broker)
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines() == [
            f"Redis users: made a password for the Redis user admin (in {broker.credentials}, "
            "0600)",
            f"Redis users: made a password for the Redis user drillhall (in "
            f"{broker.credentials}, 0600)",
            "Redis users: Redis had no users yet (anyone could reach it); gave it its users",
            "Redis users: users admin, drillhall set with their rules",
            "Redis users: the default user is off (no access without a user and password)",
            "Redis users: this Redis was started without an ACL file: the users last until it "
            "restarts, and the set-up sets them again",
            "Redis users: turned on its append-only file (persistence)",
        ]
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=broker.port).ping()
        assert broker.client(SERVER_USER).ping()

        # An agent enrolled since: the next set-up keeps it (a restarted Redis gets it back).
        admin = broker.admin()
        ensure_agent(admin, broker.credentials, "web")
        admin.execute_command("ACL", "DELUSER", agent_user("web"))
        second = set_up(broker)
        assert second.returncode == 0, second.stderr
        assert "Redis users: Redis had its users already; set them again" in second.stdout
        assert "users admin, drillhall, agent-web set with their rules" in second.stdout
        assert "made a password" not in second.stdout
        assert check_users(admin, broker.credentials).ok
        admin.close()
        shown = first.stdout + first.stderr + second.stdout + second.stderr
        assert not any(secret in shown for secret in passwords(broker.credentials))


def test_users_kept_in_an_acl_file_survive_a_restart(tmp_path: Path) -> None:
    aclfile = tmp_path / "users.acl"
    aclfile.touch()
    with acl_broker(tmp_path, None, ("--aclfile", str(aclfile))) as broker:
        done = set_up(broker)
        assert done.returncode == 0, done.stderr
        assert f"Redis users: saved in the ACL file {aclfile}" in done.stdout
        directory = broker.credentials
    assert "user default off" in aclfile.read_text()
    with acl_broker(tmp_path / "again", None, ("--aclfile", str(aclfile))) as restarted:
        restarted.credentials = directory
        assert restarted.client(SERVER_USER).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=restarted.port).ping()


def test_a_redis_set_up_from_another_directory_is_refused_with_what_to_do(
    tmp_path: Path,
) -> None:
    with acl_broker(tmp_path, ["web"]) as broker:
        other = tmp_path / "other-credentials"
        refused = set_up(broker, other)
        assert refused.returncode == 1
        assert refused.stdout == ""
        assert "Redis users: FAILED" in refused.stderr
        assert "it was set up from another credentials directory" in refused.stderr
        assert "DRILLHALL_CREDENTIALS_DIR" in refused.stderr
        assert password_file(other, ADMIN_USER).is_file()  # made, but not let in
        secrets = passwords(other) + passwords(broker.credentials)
        assert not any(secret in refused.stderr for secret in secrets)


def test_a_redis_still_loading_its_data_is_waited_for(tmp_path: Path) -> None:
    """A Redis restarted on a machine where Drillhall ran before replays a big append-only
    file first, answering LOADING meanwhile: the step waits instead of failing."""
    require(shutil.which("redis-server") is not None, "needs redis-server (make setup)")
    port = free_port()
    common = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "yes", "--dir", str(tmp_path), "--daemonize", "no"]  # fmt: skip

    def start(*extra: str, answer: bytes) -> subprocess.Popen[bytes]:
        """redis-server, once a PING gets ``answer`` (what the shell step's check sees)."""
        proc = subprocess.Popen([*common, *extra], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(100).startswith(answer):
                        return proc
            except OSError:
                pass
            assert time.monotonic() < deadline, f"redis-server never answered {answer!r}"
            time.sleep(0.05)

    proc = start(answer=b"+PONG")
    try:
        writer = redis.Redis(port=port).pipeline(transaction=False)
        for i in range(20_000):
            writer.set(f"k{i}", "v")
        writer.execute()
    finally:
        proc.terminate()  # shuts down cleanly, the append-only file written
        proc.wait(timeout=10)
    # About 4 s of loading: 0.2 ms per key (a Redis setting for tests of exactly this). It
    # answers between batches of 1,024 keys, so a batch takes 0.2 s.
    proc = start("--key-load-delay", "200", answer=b"-LOADING")
    try:
        done = set_up(AclBroker(port, tmp_path / "credentials", tmp_path / "log"))
        assert done.returncode == 0, done.stderr
        assert "Redis users: waited" in done.stdout and "for Redis to load its data" in done.stdout
        assert "Redis had no users yet" in done.stdout
    finally:
        proc.kill()
        proc.wait(timeout=10)
