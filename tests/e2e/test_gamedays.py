"""Game days on the real stack: beat, orchestrator, agents, the lab, and a webhook receiver of
the test's own that checks every message's signature. Nobody touches a scheduled game day."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drills.cli import workers
from tests.e2e.sentinels import fail_back_to_db1
from tests.e2e.stack import ROOT, Stack, cli, ensure_cli_user, manage
from tests.webhook_receiver import Receiver

E2E = ROOT / "tests" / "fixtures" / "playbooks" / "e2e"
WAIT_ONLY = ROOT / "tests" / "fixtures" / "playbooks" / "cli" / "wait-only.yaml"


@pytest.fixture(scope="module")
def beat(stack: Stack) -> Iterator[Stack]:
    stack.start("beat", workers.beat_argv())
    ensure_cli_user(stack.env)
    yield stack
    if "beat" in stack.procs:
        stack.stop("beat")


def query(stack: Stack, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the stack's own database (the servers write it; the test only reads)."""
    with sqlite3.connect(stack.env["DRILLHALL_SQLITE_PATH"], timeout=10) as db:
        return list(db.execute(sql, params))


def apply(stack: Stack, tmp: Path, *documents: str | Path) -> None:
    files = []
    for i, document in enumerate(documents):
        if isinstance(document, Path):
            files.append(str(document))
            continue
        path = tmp / f"document-{i}.yaml"
        path.write_text(document)
        files.append(str(path))
    out = cli(stack.env, "apply", *files)
    assert out.returncode == 0, out.stdout + out.stderr


def channel(stack: Stack, name: str, url: str) -> str:
    secret = secrets.token_urlsafe(24)
    manage(
        stack.env,
        "shell",
        "-c",
        "from drills.web.models import NotificationChannel as C; "
        f"C.objects.update_or_create(name={name!r}, defaults=dict(kind='webhook', "
        f"url={url!r}, secret={secret!r}))",
    )
    return secret


def gameday(name: str, drills: list[str], extra: str = "") -> str:
    listed = "\n".join(f"  - {{playbook: {d}}}" for d in drills)
    return (
        f"apiVersion: drillhall/v1\nkind: GameDay\n"
        f"metadata: {{name: {name}, goal: the drills run on their own}}\n"
        f"drills:\n{listed}\npolicy: {{on_failure: stop}}\n{extra}"
    )


def utc_in(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


def wait_for(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {timeout:g} s")


def test_a_scheduled_game_day_runs_unattended_and_tells_each_change_once(
    beat: Stack, tmp_path: Path
) -> None:
    with Receiver() as receiver:
        receiver.secret = channel(beat, "e2e-hook", receiver.url)
        fire = utc_in(60)
        apply(
            beat,
            tmp_path,
            E2E / "short-partition.yaml",
            ROOT / "examples" / "partition-demo.yaml",
            gameday(
                "e2e-unattended",
                ["short-partition", "partition-demo"],
                f"schedule: {{timezone: UTC, once: '{fire}'}}\n"
                "notify: [{channel: e2e-hook, sends: all}]\n",
            ),
        )
        ended = wait_for(
            "the scheduled game day",
            lambda: query(
                beat,
                "SELECT r.id, r.state, r.result, r.fire_time, r.source FROM drills_gamedayrun r "
                "JOIN drills_gameday g ON g.id = r.gameday_id "
                "WHERE g.name = 'e2e-unattended' AND r.finished_at IS NOT NULL",
            ),
            timeout=60 + 150,
        )
        # The last message is queued with the end; give the sender a moment.
        wait_for("the last message", lambda: "gameday_finished" in receiver.events(), 30)
        time.sleep(2)  # anything sent twice would arrive now
    [(run_id, state, result, fire_time, source)] = ended
    assert (state, source) == ("passed", "schedule"), result
    assert fire_time.startswith(fire.replace("T", " "))
    combined = json.loads(result)
    assert [(d["playbook"], d["state"]) for d in combined["drills"]] == [
        ("short-partition", "passed"),
        ("partition-demo", "passed"),
    ]
    assert combined["reason"] == "every drill passed (2 of 2)"
    assert receiver.refused == []
    told = Counter((m["event"], (m.get("drill") or {}).get("position")) for m in receiver.accepted)
    assert told == Counter(
        {
            ("gameday_started", None): 1,
            ("drill_started", 1): 1,
            ("drill_finished", 1): 1,
            ("drill_started", 2): 1,
            ("drill_finished", 2): 1,
            ("gameday_finished", None): 1,
        }
    )
    assert len(receiver.deliveries) == len(set(receiver.deliveries)) == 6
    [(outcome, reason)] = query(
        beat,
        "SELECT f.outcome, f.reason FROM drills_firerecord f JOIN drills_gameday g "
        "ON g.id = f.gameday_id WHERE g.name = 'e2e-unattended'",
    )
    assert (outcome, reason) == ("run", "on time")


def test_a_failed_first_drill_stops_the_game_day_and_says_why(beat: Stack, tmp_path: Path) -> None:
    apply(
        beat,
        tmp_path,
        E2E / "failing-partition.yaml",
        E2E / "short-partition.yaml",
        gameday("e2e-stop-first", ["failing-partition", "short-partition"]),
    )
    out = cli(beat.env, "gameday", "start", "e2e-stop-first", "--wait", timeout=150)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "drill 1 (failing-partition" in out.stdout
    assert (
        "verdict: failed (drill 1 (failing-partition) failed: " in out.stdout
        and "so drill 2 (short-partition) did not start)" in out.stdout
    ), out.stdout
    drills = query(
        beat,
        "SELECT d.gameday_position FROM drills_drillrun d JOIN drills_gamedayrun r ON "
        "r.id = d.gameday_run_id JOIN drills_gameday g ON g.id = r.gameday_id "
        "WHERE g.name = 'e2e-stop-first'",
    )
    assert drills == [(0,)]


def test_fire_times_missed_while_beat_was_down_are_recorded_and_caught_up_once(
    beat: Stack, tmp_path: Path
) -> None:
    beat.stop("beat")
    fire = utc_in(4)
    apply(
        beat,
        tmp_path,
        WAIT_ONLY,
        gameday(
            "e2e-missed-skip",
            ["wait-only"],
            f"schedule: {{timezone: UTC, once: '{fire}', missed: skip}}\n",
        ),
        gameday(
            "e2e-missed-catch-up",
            ["wait-only"],
            f"schedule: {{timezone: UTC, once: '{fire}', missed: catch_up, "
            "starting_deadline: 2m}\n",
        ),
    )
    time.sleep(4 + 5 + 2)  # past the fire time by more than the on-time window: missed
    beat.start("beat", workers.beat_argv())

    def records() -> list[tuple[str, str, str]]:
        return query(
            beat,
            "SELECT g.name, f.outcome, f.reason FROM drills_firerecord f JOIN drills_gameday g "
            "ON g.id = f.gameday_id WHERE g.name LIKE 'e2e-missed-%' ORDER BY g.name",
        )

    found = wait_for("both fire times decided", lambda: len(records()) == 2 and records(), 30)
    [(catch_name, caught, catch_reason), (skip_name, skipped, skip_reason)] = found
    assert (catch_name, caught) == ("e2e-missed-catch-up", "run")
    assert catch_reason.startswith("caught up, ") and catch_reason.endswith(" s late")
    assert (skip_name, skipped) == ("e2e-missed-skip", "missed")
    assert skip_reason.startswith("nobody was there (")
    runs = "SELECT g.name, r.state FROM drills_gamedayrun r JOIN drills_gameday g ON " \
        "g.id = r.gameday_id WHERE g.name LIKE 'e2e-missed-%'"  # fmt: skip
    wait_for("the caught-up run", lambda: query(beat, runs + " AND r.finished_at IS NOT NULL"), 60)
    time.sleep(3)  # more ticks: neither is decided again
    assert query(beat, runs) == [("e2e-missed-catch-up", "passed")]
    assert len(records()) == 2


def test_apply_the_example_game_day_and_start_it_exits_0(beat: Stack, tmp_path: Path) -> None:
    # examples/gameday.yaml names the example playbooks, which the stack loaded already.
    out = cli(beat.env, "apply", str(ROOT / "examples" / "gameday.yaml"))
    assert out.returncode == 0, out.stdout + out.stderr
    again = cli(beat.env, "apply", str(ROOT / "examples" / "gameday.yaml"))
    assert "unchanged" in again.stdout, again.stdout
    try:
        out = cli(beat.env, "gameday", "start", "lab-tuesday", "--wait", timeout=400)
    finally:
        fail_back_to_db1()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verdict: passed (every drill passed (2 of 2))" in out.stdout
