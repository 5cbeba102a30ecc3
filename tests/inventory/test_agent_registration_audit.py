"""An agent's registration reaches the audit log through the real path: the agent
(supervisor + Celery worker) sends it over Redis, an orchestrator worker stores it and
writes one entry. Registrations forged onto the same queue (an address with a scope, a
relabelled known host) are refused, and each refusal is an entry too.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

from drills.web.audit import content_hash
from injector.host import Registration
from injector.protocol import REGISTER_HOST_TASK
from injector.signing import ensure_agent_key
from tests.inventory.test_agent_registration import HOST, QUEUE, Procs, stack, wait_for

__all__ = ["stack"]  # the fixture, shared with the registration test it extends


def registrations(db: Path) -> list[tuple[str, str, str, str, str]]:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute(
                "SELECT actor_name, source, object_id, summary, content_hash "
                "FROM drills_auditentry WHERE action = 'agent_register' ORDER BY id"
            ).fetchall()
    except sqlite3.OperationalError:  # not migrated yet
        return []


def test_a_real_agent_registration_and_a_forged_one_are_one_entry_each(
    stack: tuple[Procs, Path], tmp_path: Path
) -> None:
    procs, db = stack
    procs.start("orchestrator", [
        sys.executable, "-m", "celery", "-A", "drillhall", "worker", "-Q", QUEUE, "-P", "solo",
        "-n", f"{QUEUE}@%h", "--without-gossip", "--without-mingle", "-l", "INFO",
    ])  # fmt: skip
    key_file = ensure_agent_key(tmp_path / "credentials", HOST)
    procs.start("agent", [
        sys.executable, "-m", "injector.supervisor", "--host", HOST, "--key-file", str(key_file),
        "--state-dir", str(tmp_path / "agent"), "--redis-url", procs.env["REDIS_URL"],
        "--address", "127.0.0.9", "--label", "role=web", "--service", "app:8080:http",
    ])  # fmt: skip
    first = wait_for(lambda: registrations(db), timeout=60)
    assert first, procs.logs()
    sent = Registration(
        host=HOST,
        netns=None,
        address="127.0.0.9",
        labels={"role": "web"},
        services=[{"name": "app", "port": 8080, "kind": "http"}],
    ).payload("127.0.0.9")
    assert first == [
        (
            f"agent {HOST}",
            f"agent {HOST}",
            HOST,
            f"accepted the registration of host {HOST}: new host at 127.0.0.9, queue agent.{HOST}",
            content_hash(sent),
        )
    ]

    from drillhall.celery import app

    forged = {**sent, "address": "fe80::1%eth0"}  # a scope would reach fault rules
    app.send_task(REGISTER_HOST_TASK, args=[forged], queue=QUEUE)
    both = wait_for(lambda: len(registrations(db)) >= 2 and registrations(db), timeout=30)
    assert both, procs.logs()
    time.sleep(1)  # nothing else arrives
    entries = registrations(db)
    assert len(entries) == 2
    refused = entries[1]
    assert refused[:3] == (f"agent {HOST}", f"agent {HOST}", HOST)
    assert refused[3].startswith("refused a registration: address 'fe80::1%eth0' has a scope")
    assert refused[4] == content_hash(forged)

    # Any agent may push a registration, for any host: one that would relabel the known host
    # (and so put it into another selector's group) is refused too, and changes nothing.
    relabel = {**sent, "labels": {"role": "db"}}
    app.send_task(REGISTER_HOST_TASK, args=[relabel], queue=QUEUE)
    three = wait_for(lambda: len(registrations(db)) >= 3 and registrations(db), timeout=30)
    assert three, procs.logs()
    assert three[2][3].startswith(
        f"refused a registration: a registration for the known host {HOST} was refused: "
        "it would change the label role from web to db."
    ), three[2][3]
    with sqlite3.connect(db, timeout=5) as conn:
        [(labels,)] = conn.execute("SELECT labels FROM drills_host WHERE name = ?", (HOST,))
    assert json.loads(labels) == {"role": "web"}
