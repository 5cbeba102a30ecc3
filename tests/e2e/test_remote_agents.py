"""Agents as remote hosts: every lab agent runs inside its host's network namespace and reaches
Redis only through the lab bridge, as its own Redis user, and a real drill passes that way.

Proved from the outside: Redis's own CLIENT LIST (which user each connection is, from which
address), Redis's ACL LOG (no command of an agent was refused during the drill), and each
agent process's /proc/<pid>/ns/net against the lab namespace's.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

import redis

from drills.lab.topology import DEFAULT_TOPOLOGY
from injector.credentials import admin_redis_url, agent_user
from tests.e2e.stack import LAB_HOSTS, ROOT, Stack, cli

PLAYBOOK = ROOT / "tests" / "fixtures" / "playbooks" / "e2e" / "short-partition.yaml"
BRIDGE = DEFAULT_TOPOLOGY.bridge_address
LAB_NET = ipaddress.ip_network(f"{BRIDGE}/{DEFAULT_TOPOLOGY.prefixlen}", strict=False)


def clients(admin: redis.Redis) -> list[dict[str, str]]:
    """CLIENT LIST, one mapping per connection (addr, laddr, user, cmd, ...)."""
    raw = admin.execute_command("CLIENT", "LIST")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return [dict(field.split("=", 1) for field in line.split(" ") if "=" in field)
            for line in text.splitlines() if line]  # fmt: skip


def ip_of(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(address.rsplit(":", 1)[0])


def netns_inode_of(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def test_a_drill_passes_with_every_agent_reaching_redis_only_through_the_bridge_as_itself(
    stack: Stack, tmp_path: Path
) -> None:
    admin = redis.Redis.from_url(admin_redis_url(stack.env["REDIS_URL"]), socket_timeout=5)
    admin.execute_command("ACL", "LOG", "RESET")
    out = cli(stack.env, "run", str(PLAYBOOK), "--json", str(tmp_path / "run.json"))
    doc = json.loads((tmp_path / "run.json").read_text())
    assert out.returncode == 0, out.stdout + out.stderr
    assert doc["result"]["state"] == "passed"
    assert [e for e in doc["events"] if e["type"] == "fault_reverted"]

    # Redis listens on the bridge while the lab is up.
    bind = admin.execute_command("CONFIG", "GET", "bind")
    assert BRIDGE in str(bind), bind

    connections = clients(admin)
    for host, (netns, address) in LAB_HOSTS.items():
        mine = [c for c in connections if c["user"] == agent_user(host)]
        assert mine, f"no connection of {agent_user(host)} in {connections}"
        for c in mine:
            # From the host's own address, to the bridge: never from loopback.
            assert ip_of(c["addr"]) == ipaddress.ip_address(address), c
            assert ip_of(c["laddr"]) == ipaddress.ip_address(BRIDGE), c
        print(f"{host}: {len(mine)} connections as {agent_user(host)} from {address}")

        # The whole agent (supervisor and worker) lives in the host's namespace.
        lab = os.stat(f"/run/netns/{netns}").st_ino
        supervisor = stack.procs[f"agent-{host}"].pid
        worker = int((stack.state_dir / "agents" / host / "worker.pid").read_text())
        assert netns_inode_of(supervisor) == lab
        assert netns_inode_of(worker) == lab
        assert netns_inode_of(os.getpid()) != lab
        assert b"injector.supervisor" in Path(f"/proc/{supervisor}/cmdline").read_bytes()

    # Nothing else comes from the lab: every connection from 10.77.0.0/24 is the agent of the
    # host at that address (or one still saying hello, before its AUTH).
    by_address = {address: host for host, (_, address) in LAB_HOSTS.items()}
    for c in connections:
        if ip_of(c["addr"]) not in LAB_NET:
            assert not c["user"].startswith("agent-"), c
            continue
        host = by_address.get(str(ip_of(c["addr"])))
        assert c["user"] == agent_user(host or "?") or (
            c["user"] == "default" and c.get("cmd") in ("NULL", "hello", "auth")
        ), c

    # No agent needed more than its user may do: Redis refused nothing during the drill.
    refusals = admin.execute_command("ACL", "LOG")
    assert refusals == [], refusals
    admin.close()
