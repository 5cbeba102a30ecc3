"""`drillhall report RUN --format html|pdf|json|junit|md [-o FILE]`: a stored run's report.

It acts as a person, like every command that reads or changes the server's records
(``--as USERNAME`` or DRILLHALL_USER), and shows only what that person may see on the web: the
view role in the playbook's team (or the game day's, with ``--gameday``). Without ``-o`` the
report goes to standard output (bytes, for the PDF).

Exit codes: 0 written, 2 no such run or no such format, 4 not allowed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from drills.report.format_names import FORMATS

EXIT_DONE, EXIT_NO_SUCH, EXIT_NOT_ALLOWED = 0, 2, 4


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="the run's number (or its key)")
    p.add_argument("--format", choices=FORMATS, default="html", help="html by default")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of to stdout")
    p.add_argument(
        "--gameday", action="store_true", help="RUN is a game day's run: its combined report"
    )
    p.add_argument(
        "--as", dest="as_user", metavar="USERNAME", help="who reads it ($DRILLHALL_USER)"
    )
    add_window_arguments(p)


def add_window_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--before", type=float, metavar="SECONDS",
        help="charts: seconds of record before the first fault (default: from the start)",
    )  # fmt: skip
    p.add_argument(
        "--after", type=float, metavar="SECONDS",
        help="charts: seconds of record after the last revert (default: to the end)",
    )  # fmt: skip


def cmd_report(args: argparse.Namespace, say_err: Callable[[str], None]) -> int:
    from drills.cli.main import setup_django

    setup_django()
    from drills.cli.acting_user import Refused, acting_user
    from drills.cli.approve import find_run
    from drills.report.formats import render_gameday_run, render_run
    from drills.report.model import ChartWindow
    from drills.web.access import refusal
    from drills.web.models import GameDayRun
    from drills.web.roles import Action, can

    try:
        user = acting_user(args.as_user)
    except Refused as exc:
        say_err(f"drillhall report: {exc}".replace("drillhall run acts", "it acts"))
        return EXIT_NOT_ALLOWED
    window = ChartWindow(args.before, args.after)
    if args.gameday:
        gameday_run = (
            GameDayRun.objects.select_related("gameday").filter(id=int(args.run)).first()
            if args.run.isdigit()
            else GameDayRun.objects.select_related("gameday").filter(key=args.run).first()
        )
        if gameday_run is None:
            say_err(f"there is no game day run {args.run!r} in this Drillhall's database")
            return EXIT_NO_SUCH
        if not can(user, Action.VIEW, gameday_run.gameday):
            say_err(refusal(user, Action.VIEW, gameday_run.gameday, you=False))
            return EXIT_NOT_ALLOWED
        rendered = render_gameday_run(gameday_run, args.format, window)
    else:
        run = find_run(args.run)
        if run is None:
            say_err(f"there is no run {args.run!r} in this Drillhall's database")
            return EXIT_NO_SUCH
        if not can(user, Action.VIEW, run.playbook):
            say_err(refusal(user, Action.VIEW, run.playbook, you=False))
            return EXIT_NOT_ALLOWED
        rendered = render_run(run, args.format, window)
    if args.output:
        Path(args.output).write_bytes(rendered.content)
        print(f"report: {args.output} ({args.format}, {len(rendered.content)} bytes)", flush=True)
    else:
        sys.stdout.buffer.write(rendered.content)
        sys.stdout.flush()
    return EXIT_DONE
