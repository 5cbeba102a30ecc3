"""`drillhall gameday start NAME [--wait]`: start a stored game day now.

Like `drillhall run`, it acts as a named user (the operator role in the game day's team) and,
with ``--wait``, starts the workers, agents and lab its drills need when none are running,
prints each drill's progress, and exits with the combined verdict: 0 every drill passed, 1 a
drill failed, 3 the game day was aborted or ended in error. Ctrl-C (or SIGTERM) stops the game
day: the running drill is aborted and its faults reverted. Without ``--wait`` it only hands the
game day over, which needs a running server's workers.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from typing import Any

from drills.cli.main import (
    EXIT_ABORTED,
    EXIT_FAILED,
    EXIT_NOT_ALLOWED,
    EXIT_PASSED,
    say_err,
    setup_django,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    start = sub.add_parser("start", help="start a stored game day now")
    start.add_argument("name")
    start.add_argument(
        "--wait",
        action="store_true",
        help="start what it needs, follow it, and exit with its verdict (0/1/3)",
    )
    start.add_argument(
        "--as",
        dest="as_user",
        metavar="USERNAME",
        help="who starts it (default: $DRILLHALL_USER); needs the operator role",
    )


def cmd_gameday(args: argparse.Namespace, say) -> int:  # type: ignore[no-untyped-def]
    setup_django()
    from drills.cli.acting_user import Refused, acting_user
    from drills.web.access import refusal
    from drills.web.models import GameDay
    from drills.web.roles import Action, can

    try:
        user = acting_user(getattr(args, "as_user", None))
    except Refused as exc:
        say_err(f"refused: {exc}")
        return EXIT_NOT_ALLOWED
    gameday = GameDay.objects.filter(name=args.name).first()
    if gameday is None or not can(user, Action.VIEW, gameday):
        say_err(
            f"there is no game day {args.name} that {user.get_username()} may see "
            "(drillhall apply FILE stores one)"
        )
        return EXIT_ABORTED
    if not can(user, Action.RUN, gameday):
        say_err(f"refused: {refusal(user, Action.RUN, gameday, you=False)}")
        return EXIT_NOT_ALLOWED
    if args.wait:
        return start_and_wait(gameday, user, say)
    return start_only(gameday, user, say)


def start_only(gameday: Any, user: Any, say) -> int:  # type: ignore[no-untyped-def]
    from django.conf import settings

    from drills.cli.workers import active_queues
    from drills.web.audit import Origin
    from drills.web.gameday_runs import GameDayRefused, start_gameday

    try:
        listening = settings.DRILLHALL_ORCHESTRATOR_QUEUE in active_queues(timeout=1.0)
    except Exception:
        listening = False
    if not listening:
        say_err(
            f"{gameday.name}: no orchestrator worker is running to take it; start the server "
            "(make demo), or use --wait, which starts what the game day needs"
        )
        return EXIT_ABORTED
    try:
        run = start_gameday(gameday, user, source="cli", origin=Origin(user, "cli"))
    except GameDayRefused as exc:
        say_err(f"{gameday.name}: {exc}")
        return EXIT_ABORTED
    say(f"game day {gameday.name}: run {run.id} started; {_page(run)}")
    return EXIT_PASSED


def _page(run: Any) -> str:
    from django.conf import settings

    from drills.web.notify import gameday_run_path

    path = gameday_run_path(run.id)
    base = settings.DRILLHALL_URL
    return f"its page: {base}{path}" if base else f"its page: {path} on the web server"


def plans_of(gameday: Any) -> tuple[list[Any], set[str]]:
    """The plans the game day's drills would run with now, and the lab hosts they name."""
    from drills.cli.run import lab_hosts_of
    from drills.engine.plan import PlanError, resolve_plan
    from drills.playbook.errors import PlaybookError
    from drills.playbook.parser import parse_playbook
    from drills.web.gameday_runs import document_of
    from drills.web.hosts import inventory_snapshot
    from drills.web.models import Playbook

    document = document_of(gameday.latest_version())
    plans, lab_hosts = [], set()
    for entry in document.drills:
        stored = Playbook.objects.filter(name=entry.playbook).first()
        if stored is None:
            continue  # the run says so when it gets there
        versions = stored.versions.order_by("-number")
        version = (
            versions.first()
            if entry.version == "latest"
            else versions.filter(number=entry.version).first()
        )
        if version is None:
            continue
        try:
            playbook = parse_playbook(version.content, f"{stored.name}.yaml")
        except PlaybookError:
            continue
        lab_hosts |= lab_hosts_of(playbook)
        try:
            plans.append(resolve_plan(playbook, inventory_snapshot()))
        except PlanError:
            continue
    return plans, lab_hosts


def start_and_wait(gameday: Any, user: Any, say) -> int:  # type: ignore[no-untyped-def]
    from django.conf import settings

    from drills.cli import labctl
    from drills.cli.run import agents_for, lab_up
    from drills.cli.workers import worker_pool
    from drills.web.audit import Origin
    from drills.web.gameday_runs import GameDayRefused, start_gameday, stop_gameday

    origin = Origin(user, "cli")
    pool = worker_pool(settings.BASE_DIR / "var", f"cli-{os.getpid()}")
    state: dict[str, Any] = {"run": None, "signals": 0}

    def on_signal(signum, frame):  # type: ignore[no-untyped-def]
        state["signals"] += 1
        name = signal.Signals(signum).name
        if state["signals"] == 1 and state["run"] is not None:
            say(f"stop requested ({name}); aborting the running drill...")
            stop_gameday(state["run"], f"stopped from the command line ({name})", origin=origin)
        else:
            raise KeyboardInterrupt

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, on_signal) for s in handled}
    pool.hold()
    try:
        _, lab_hosts = plans_of(gameday)
        if lab_hosts:
            pool.ensure_lab(lambda: lab_up(lab_hosts, say))
        plans, _ = plans_of(gameday)  # again: the lab's hosts are registered now
        agents, optional = agents_for(plans)
        pool.ensure_workers(agents, say, optional=optional)
        try:
            run = start_gameday(gameday, user, source="cli", origin=origin)
        except GameDayRefused as exc:
            say_err(f"{gameday.name}: {exc}")
            return EXIT_ABORTED
        state["run"] = run
        say(f"game day {gameday.name} v{run.version.number}: run {run.id} started; {_page(run)}")
        run = follow(run, say)
        say(f"verdict: {run.state} ({run.reason})")
        return {"passed": EXIT_PASSED, "failed": EXIT_FAILED}.get(run.state, EXIT_ABORTED)
    except Exception as exc:  # never a traceback, and never exit 1 for it
        reason = str(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
        say_err(f"{gameday.name}: the game day could not go on: {reason}")
        if state["run"] is not None:
            stop_gameday(state["run"], f"drillhall gameday stopped: {reason}"[:200], origin=origin)
            follow(state["run"], lambda _: None, patience=60.0)
        return EXIT_ABORTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        pool.leave(say, lab_down=lambda: labctl.down(say))


def follow(run: Any, say, patience: float | None = None) -> Any:  # type: ignore[no-untyped-def]
    """Print each drill's state as it changes until the game-day run ends; the ended row.
    Meanwhile it moves the run on itself, as beat's clock would (no beat needs to run)."""
    from drills.web.gameday_runs import advance
    from drills.web.liveness import Reaper
    from drills.web.models import DrillRun, GameDayRun

    reaper = Reaper()
    seen: dict[int, str] = {}
    deadline = None if patience is None else time.monotonic() + patience
    next_look = 0.0
    while True:
        row = GameDayRun.objects.get(id=run.id)
        for drill in DrillRun.objects.filter(gameday_run=row).select_related("version__playbook"):
            position = drill.gameday_position or 0
            if seen.get(position) != drill.state:
                seen[position] = drill.state
                line = f"  drill {position + 1} ({drill.version.playbook.name}, run {drill.id})"
                if drill.finished:
                    reason = (drill.result or {}).get("reason", "")
                    say(f"{line}: {drill.state}{f' — {reason}' if reason else ''}")
                else:
                    say(f"{line}: {drill.state.replace('_', ' ')}")
            if not drill.finished:
                reaper.sweep(only=drill)
        if row.finished:
            return row
        if deadline is not None and time.monotonic() > deadline:
            return row
        if time.monotonic() >= next_look:
            next_look = time.monotonic() + 2.0
            advance(row.id)
        time.sleep(0.3)
