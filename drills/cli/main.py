"""`drillhall`: the command line.

Exit codes of `run` (and of `gameday start --wait`, for the game day's combined verdict):
0 passed, 1 an SLA failed, 2 invalid playbook, 3 aborted or error,
4 not allowed (the user it acts as, `--as` or DRILLHALL_USER, lacks the role), 5 not approved
(a run that faults protected hosts was declined, cancelled, or nobody approved it while `run`
waited).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

from drills.playbook.redaction import redact

EXIT_PASSED, EXIT_FAILED, EXIT_INVALID, EXIT_ABORTED, EXIT_NOT_ALLOWED = 0, 1, 2, 3, 4
EXIT_NOT_APPROVED = 5


def say(message: str) -> None:
    # Every line the command line prints goes through here (or say_err): none holds a password.
    print(redact(message), flush=True)


def say_err(message: str) -> None:
    print(redact(message), file=sys.stderr, flush=True)


def setup_django(migrate: bool = True) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drillhall.settings")
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def cmd_validate(args: argparse.Namespace) -> int:
    import datetime as dt

    from drills.cli.documents import read_document, summary
    from drills.playbook.errors import PlaybookError

    status = 0
    now = dt.datetime.now(dt.UTC)
    for path in args.files:
        try:
            document = read_document(Path(path))
        except PlaybookError as exc:
            for issue in exc.issues:
                say_err(str(issue))
            status = EXIT_INVALID
        except OSError as exc:
            say_err(f"{path}: cannot read: {exc.strerror}")
            status = EXIT_INVALID
        else:
            say(f"{path}: ok ({summary(document, now)})")
    return status


def cmd_doctor(args: argparse.Namespace) -> int:
    from drillhall.env import env_str
    from drills.cli.doctor import check_all, render

    caps = check_all(
        env_str("REDIS_URL", "redis://127.0.0.1:6379/0"), env_str("DRILLHALL_ALERTMANAGER_URL", "")
    )
    say(render(caps))
    return 0 if all(c.ok for c in caps) else 1


def cmd_lab(args: argparse.Namespace) -> int:
    setup_django()
    from drills.cli import labctl

    if args.action == "up":
        labctl.up(say)
    elif args.action == "down":
        labctl.down(say)
    else:
        labctl.status(say)
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    from injector.supervisor import main as agent_main

    return agent_main(args.rest)


def cmd_orchestrator(args: argparse.Namespace) -> int:
    """Become an orchestrator worker: the systemd template unit's instances start this, as
    `make demo` starts its own, so the queues and the threads are said in one place
    (drills/cli/workers.py) and follow DRILLHALL_MAX_RUNS."""
    setup_django(migrate=False)  # migrating is an upgrade step (docs/deploy.md), not a start
    from drills.cli.workers import orchestrator_argv

    argv = orchestrator_argv(args.name)
    os.execv(argv[0], argv)
    return 1  # not reached: execv returns only by raising


def cmd_halt(args: argparse.Namespace) -> int:
    setup_django()
    from drills.cli.halt_command import halt

    return halt(args, say)


def cmd_release(args: argparse.Namespace) -> int:
    setup_django()
    from drills.cli.halt_command import release

    return release(args, say)


def cmd_run(args: argparse.Namespace) -> int:
    if args.server:
        from drills.cli.remote_run import run_remote

        return run_remote(args, say)
    from drills.cli.run import run_file

    return run_file(args, say)


def cmd_approve(args: argparse.Namespace) -> int:
    from drills.cli.approve import cmd_approve as approve

    return approve(args, say)


def cmd_plan(args: argparse.Namespace) -> int:
    from drills.cli.plan_command import cmd_plan as plan

    return plan(args, say)


def cmd_import_ctk(args: argparse.Namespace) -> int:
    from drills.cli.import_ctk import cmd_import_ctk as import_ctk

    return import_ctk(args, say)


def cmd_enrol(args: argparse.Namespace) -> int:
    setup_django(migrate=False)  # settings only: enrolling touches no database
    from drills.cli.enrol import cmd_enrol as enrol

    return enrol(args, say)


def cmd_apply(args: argparse.Namespace) -> int:
    from drills.cli.apply_command import cmd_apply as apply

    return apply(args, say)


def cmd_gameday(args: argparse.Namespace) -> int:
    from drills.cli.gameday_command import cmd_gameday as gameday

    return gameday(args, say)


def cmd_report(args: argparse.Namespace) -> int:
    from drills.cli.report_command import cmd_report

    return cmd_report(args, say_err)


def cmd_demo(args: argparse.Namespace) -> int:
    from drills.cli.demo import demo

    return demo(args, say)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser. Given the ``command`` the line names, the other commands'
    own options, whose modules are imported to define them (Redis, the Chaos Toolkit
    converter), are left out: only one command is parsed. Building them all was 0.4 s in a
    profile of `drillhall run`, though most of that is imports the run makes later anyway."""
    parser = argparse.ArgumentParser(prog="drillhall", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def full(name: str) -> bool:
        return command is None or command == name

    p = sub.add_parser("run", help="run a playbook and wait for its verdict")
    p.add_argument("file")
    p.add_argument(
        "--as",
        dest="as_user",
        metavar="USERNAME",
        help="the user this run is started by (default: $DRILLHALL_USER); needs the operator "
        "role in the playbook's team, and the author role to save a changed file",
    )
    p.add_argument("--report", metavar="OUT.html", help="write the HTML report")
    p.add_argument("--json", metavar="OUT.json", help="write the JSON report (the full record)")
    p.add_argument("--junit", metavar="OUT.xml", help="write the JUnit report (one case per SLA)")
    p.add_argument("--md", metavar="OUT.md", help="write the short Markdown report")
    p.add_argument("--pdf", metavar="OUT.pdf", help="write the PDF report")
    p.add_argument("--quiet", action="store_true", help="print states and the verdict only")
    p.add_argument(
        "--server",
        metavar="URL",
        help="run on a shared Drillhall server through its API (the CI gate), not locally",
    )
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help="the API token for --server (default: $DRILLHALL_TOKEN)",
    )
    p.add_argument(
        "--token", help="the API token for --server (visible to others in `ps`: prefer a file)"
    )
    p.add_argument(
        "--approval-wait",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="how long to wait for an approval before cancelling the run (exit 5); 900 s",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("approve", help="approve or decline a run that faults protected hosts")
    if full("approve"):
        from drills.cli.approve import add_arguments as approve_arguments

        approve_arguments(p)
    p.set_defaults(func=cmd_approve)

    p = sub.add_parser("report", help="a stored run's report: html, pdf, json, junit or md")
    if full("report"):
        from drills.cli.report_command import add_arguments as report_arguments

        report_arguments(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("validate", help="check playbooks and game days without running them")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("apply", help="store playbooks and game days on the server (idempotent)")
    if full("apply"):
        from drills.cli.apply_command import add_arguments as apply_arguments

        apply_arguments(p)
    p.set_defaults(func=cmd_apply)

    p = sub.add_parser("gameday", help="start a stored game day (see gameday start --help)")
    if full("gameday"):
        from drills.cli.gameday_command import add_arguments as gameday_arguments

        gameday_arguments(p)
    p.set_defaults(func=cmd_gameday)

    p = sub.add_parser("plan", help="dry run: which fault lands on which host, for how long")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("import-ctk", help="convert a Chaos Toolkit experiment into a playbook")
    if full("import-ctk"):
        from drills.cli.import_ctk import add_arguments as ctk_arguments

        ctk_arguments(p)
    p.set_defaults(func=cmd_import_ctk)

    p = sub.add_parser(
        "doctor", help="list what this machine can do, and how to fix what is missing"
    )
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("lab", help="the local lab of network namespaces and services")
    p.add_argument("action", choices=["up", "down", "status"])
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("halt", help="revert every fault on every agent; refuse new ones")
    if full("halt"):
        from drills.cli.halt_command import add_actor

        p.add_argument("--reason", default="halt all from the command line", help="why (shown)")
        add_actor(p)
    p.set_defaults(func=cmd_halt)

    p = sub.add_parser("release", help="lift a halt (admins only): faults may be injected again")
    if full("release"):
        from drills.cli.halt_command import add_actor

        add_actor(p)
    p.set_defaults(func=cmd_release)

    p = sub.add_parser(
        "enrol", help="give a new host's agent its key and Redis user; say what it needs"
    )
    if full("enrol"):
        from drills.cli.enrol import add_arguments as enrol_arguments

        enrol_arguments(p)
    p.set_defaults(func=cmd_enrol)

    p = sub.add_parser("agent", help="run the fault agent for a host (see --help)", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_agent)

    p = sub.add_parser("orchestrator", help="run an orchestrator worker (one per core)")
    p.add_argument(
        "--name",
        default="orchestrator",
        help="the worker's name, one per process of this machine (default: orchestrator)",
    )
    p.set_defaults(func=cmd_orchestrator)

    p = sub.add_parser("demo", help="set up and serve the whole thing on this machine")
    p.add_argument("--port", type=int, default=int(os.environ.get("DRILLHALL_PORT", "8000")))
    p.add_argument("--no-drill", action="store_true", help="do not start the demo drill")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    from django.core.exceptions import ImproperlyConfigured

    line = sys.argv[1:] if argv is None else argv
    command = line[0] if line and not line[0].startswith("-") else None
    args = build_parser(command).parse_args(line)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except ImproperlyConfigured as exc:
        # A setting to fix (no SECRET_KEY, a bad boolean): its sentence, not a traceback.
        say_err(f"drillhall: {exc}")
        return EXIT_ABORTED
    finally:
        # The process exits next (the console script and `python -m` exit with main's code):
        # the collector's last pass over everything Django, Celery and the playbook model
        # made took about 0.3 s of every command's exit, for memory the exit frees anyway.
        gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
