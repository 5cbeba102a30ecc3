"""`drillhall enrol HOST`: the host's agent gets its Redis user and its signing key, made once,
never shown, and the operator is told, in sentences, what that agent needs; through the real
command line and a real Redis."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from injector.credentials import ENV, agent_user, password_file
from injector.signing import agent_key_path, load_key
from tests.acl_broker import AclBroker, acl_broker

ROOT = Path(__file__).resolve().parents[2]


def enrol(
    broker: AclBroker, *args: str, directory: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, ENV: str(directory or broker.credentials), "REDIS_URL": broker.url,
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "drills.cli.main", "enrol", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_enrolling_makes_the_agents_user_and_says_what_the_agent_needs(tmp_path: Path) -> None:
    with acl_broker(tmp_path, []) as broker:
        done = enrol(broker, "shop-db-1", "--protected")
        assert done.returncode == 0, done.stderr
        secret = password_file(broker.credentials, agent_user("shop-db-1"))
        lines = done.stdout.splitlines()
        assert lines[0] == (
            "shop-db-1 is enrolled: its agent reaches Redis as the Redis user "
            "agent-shop-db-1, which may touch its own queue agent.shop-db-1 and its own keys only, "
            "and takes only requests signed with its own key."
        )
        assert lines[1] == f"Its password is in {secret} (made just now; it is not shown)."
        key_file = agent_key_path(broker.credentials, "shop-db-1")
        key = load_key(key_file)
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert lines[2] == f"Its key is in {key_file} (made just now; not shown)."
        assert key.hex() not in done.stdout + done.stderr  # where it is, never what it is
        assert "  DRILLHALL_CREDENTIALS_DIR=/etc/drillhall/credentials" in lines
        assert (
            "  DRILLHALL_AGENT_KEY_FILE=/etc/drillhall/credentials/agents/shop-db-1/hmac.key"
            in lines
        )
        assert f"  REDIS_URL=redis://REDIS-ADDRESS:{broker.port}/0" in lines
        assert "  drillhall agent --host shop-db-1" in lines
        assert "DRILLHALL_AGENT_PROTECTED=true" in lines[-1]
        assert secret.read_text().strip() not in done.stdout + done.stderr

        # The agent's user works with that password, and only on its own keys.
        agent = broker.client(agent_user("shop-db-1"))
        assert agent.ping()
        agent.lpush("agent.shop-db-1", "m")
        with pytest.raises(redis.exceptions.NoPermissionError):
            agent.lpush("agent.web", "m")
        agent.close()

        again = enrol(broker, "shop-db-1")
        assert again.returncode == 0, again.stderr
        assert "(already there; it is not shown)" in again.stdout
        assert f"Its key is in {key_file} (already there; not shown)." in again.stdout
        assert load_key(key_file) == key
        assert "DRILLHALL_AGENT_PROTECTED" not in again.stdout


def test_a_bad_host_name_or_no_admin_password_is_a_sentence_and_exit_2(tmp_path: Path) -> None:
    with acl_broker(tmp_path, []) as broker:
        bad = enrol(broker, "../web")
        assert bad.returncode == 2 and bad.stdout == ""
        assert bad.stderr.startswith("drillhall enrol: invalid agent host name '../web'")
        assert not (broker.credentials / "agents").exists()  # nothing made for a bad name
        elsewhere = enrol(broker, "web", directory=tmp_path / "empty")
        assert elsewhere.returncode == 2
        assert "no password of the Redis user admin in" in elsewhere.stderr
        assert "run make setup first" in elsewhere.stderr
        assert "Traceback" not in bad.stderr + elsewhere.stderr
