"""`drillhall approve RUN --as USERNAME`: approve (or decline) a run that faults protected hosts
without a browser, under the web page's rules (drills/web/approvals.py): the approver role in
the playbook's team, and not the person who started it.

Without ``--version`` and ``--hash`` it prints what would be approved (the playbook version,
its content hash, who asked, the plan and blast radius) and the exact command that approves
that and nothing else; an approval names the version and hash its approver was shown.

Exit codes: 0 approved or declined (or shown), 2 refused (with the reason on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

EXIT_DONE, EXIT_REFUSED = 0, 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="the run's number (or its key)")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", required=True, help="who approves")
    p.add_argument("--version", type=int, metavar="N", help="the version you reviewed")
    p.add_argument("--hash", metavar="SHA256", help="the content hash you reviewed")
    p.add_argument("--decline", metavar="REASON", help="decline the run instead, saying why")


def cmd_approve(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    from drills.cli.main import setup_django

    setup_django()
    from django.contrib.auth import get_user_model

    from drills.cli.plan_command import render_plan
    from drills.engine.plan import Plan
    from drills.engine.states import RunState
    from drills.web.approvals import (
        ApprovalRefused,
        approve_run,
        decline_run,
        protected_hosts,
    )

    run = find_run(args.run)
    if run is None:
        return refuse(f"there is no run {args.run!r} in this Drillhall's database")
    user = get_user_model().objects.filter(username=args.as_user, is_active=True).first()
    if user is None:
        return refuse(f"there is no active user named {args.as_user!r}")
    version = run.version
    try:
        if args.decline is not None:
            decline_run(run, user, args.decline, source="cli")
            say(f"run {run.id} declined by {user.get_username()}: it ended without a fault")
            return EXIT_DONE
        if args.version is None or not args.hash:
            state = RunState(run.state).label
            say(f"run {run.id}: {version.playbook.name} v{version.number}, {state}")
            say(f"  content sha256: {version.content_hash}")
            asker = run.started_by.get_username() if run.started_by else "nobody recorded"
            say(f"  asked by: {asker}, {run.created_at:%Y-%m-%d %H:%M:%S} UTC")
            say(f"  protected hosts: {', '.join(protected_hosts(run)) or 'none'}")
            if run.plan:
                say(render_plan(Plan.from_dict(run.plan), version.playbook.name))
            say("to approve exactly this, run:")
            say(
                f"  drillhall approve {run.id} --as {user.get_username()} "
                f"--version {version.number} --hash {version.content_hash}"
            )
            return refuse("not approved: say which version and hash you reviewed")
        approval = approve_run(
            run, user, version_number=args.version, content_hash=args.hash, source="cli"
        )
    except ApprovalRefused as exc:
        return refuse(f"run {run.id} not approved: {exc}")
    say(
        f"run {run.id} approved by {approval.approver_name}: {approval.playbook_name} "
        f"v{approval.version_number} ({approval.content_hash[:12]}); it is handed to the "
        "orchestrator"
    )
    return EXIT_DONE


def find_run(ref: str) -> Any:
    from drills.web.models import DrillRun

    runs = DrillRun.objects.select_related("version__playbook", "started_by")
    if ref.isdigit():
        return runs.filter(id=int(ref)).first()
    return runs.filter(key=ref).first()


def refuse(message: str) -> int:
    print(message, file=sys.stderr, flush=True)
    return EXIT_REFUSED
