"""`drillhall run FILE`: the same engine as the web app, headless, for CI pipelines."""

from __future__ import annotations

import argparse
import json
import signal
import time
from pathlib import Path
from typing import Any

from drills.cli.event_lines import describe
from drills.cli.main import EXIT_ABORTED, EXIT_FAILED, EXIT_INVALID, EXIT_PASSED, setup_django


def run_file(args: argparse.Namespace, say) -> int:  # type: ignore[no-untyped-def]
    from drills.playbook.errors import PlaybookError
    from drills.playbook.parser import parse_file

    path = Path(args.file)
    try:
        playbook = parse_file(path)
    except PlaybookError as exc:
        for issue in exc.issues:
            say_err(str(issue))
        return EXIT_INVALID
    except OSError as exc:
        say_err(f"{path}: cannot read: {exc.strerror}")
        return EXIT_INVALID

    setup_django()
    from django.conf import settings

    from drills.cli import labctl
    from drills.cli.process_group import ProcessGroup
    from drills.cli.workers import ensure_workers
    from drills.web.models import DrillRun, Host, Playbook
    from drills.web.run_control import abort_run, start_run
    from drills.web.run_document import run_document

    group = ProcessGroup(settings.BASE_DIR / "var" / "logs" / f"cli-{int(time.time())}")
    started_lab = False
    # Selector targets match inventory labels; only explicit host names can call for the lab.
    hosts_needed = {str(getattr(t, "host", "")) for t in playbook.targets.values()} - {""}
    lab_hosts = labctl.lab_hosts()
    try:
        if hosts_needed & set(lab_hosts):
            if not labctl.is_present():
                say("lab: not running; bringing it up for this run")
                labctl.up(say)
                started_lab = True
            elif not Host.objects.filter(name__in=hosts_needed & set(lab_hosts)).exists():
                labctl.register_present()  # a lab started with another database
        from drills.engine.plan import PlanError, resolve_plan
        from drills.web.hosts import inventory_snapshot

        try:
            plan = resolve_plan(
                playbook, inventory_snapshot(), approved_protected=args.approve_protected
            )
        except PlanError as exc:
            say_err(f"{path}: the plan was refused:\n{exc}")
            return EXIT_ABORTED
        # Agents where faults land; where only kernel collectors run (a partition's peers),
        # an agent is started if missing but the run does not depend on it.
        fault_hosts = {fault.host for _, fault in plan.faults()}
        evidence_hosts = {collectors.host for collectors in plan.collectors} - fault_hosts
        hosts = Host.objects.filter(name__in=fault_hosts | evidence_hosts)
        known = {h.name: h.netns for h in hosts}
        agents = {h: ns for h, ns in known.items() if h in fault_hosts}
        optional = {h: ns for h, ns in known.items() if h in evidence_hosts}
        ensure_workers(group, agents, say, optional=optional)

        record, _ = Playbook.objects.get_or_create(name=playbook.metadata.name)
        version = record.save_version(path.read_text(), message=f"drillhall run {path}")
        run = start_run(version, None, source="cli", approve_protected=args.approve_protected)
        say(f"run {run.id}: {playbook.metadata.name} v{version.number} started")

        interrupted = {"count": 0}

        def on_sigint(signum, frame):  # type: ignore[no-untyped-def]
            interrupted["count"] += 1
            if interrupted["count"] == 1:
                say("abort requested (Ctrl-C); reverting faults...")
                abort_run(run, "aborted from the command line")
            else:
                raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            result = _tail(run.id, say, quiet=args.quiet)
        finally:
            signal.signal(signal.SIGINT, previous)
        run = DrillRun.objects.get(id=run.id)
        doc = run_document(run)
        if args.json:
            Path(args.json).write_text(json.dumps(doc, indent=2))
            say(f"report: {args.json}")
        if args.report:
            from drills.report.html import render_html

            Path(args.report).write_text(render_html(doc))
            say(f"report: {args.report}")
        state = result.get("state", run.state)
        say(f"verdict: {state} ({result.get('reason', '')})")
        return {"passed": EXIT_PASSED, "failed": EXIT_FAILED}.get(state, EXIT_ABORTED)
    finally:
        group.stop()
        if started_lab:
            labctl.down(say)


def say_err(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


def _tail(run_id: int, say, quiet: bool) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Print the run's events as they are stored; return the result event's data."""
    from drills.web.models import RunEvent

    last = 0
    t0: float | None = None
    samples = errors = 0
    while True:
        events = list(RunEvent.objects.filter(run_id=run_id, seq__gt=last).order_by("seq")[:500])
        for event in events:
            last = event.seq
            t0 = t0 if t0 is not None else event.t
            line = describe(event.type, event.data)
            if event.type == "sample":
                samples += 1
                errors += 0 if event.data.get("ok") else 1
            if line and (not quiet or event.type in ("state", "result", "error", "abort")):
                say(f"  +{event.t - t0:6.2f}s {line}")
            if event.type == "result":
                say(f"  probe samples: {samples}, errors: {errors}")
                return dict(event.data)
        if not events:
            time.sleep(0.2)
