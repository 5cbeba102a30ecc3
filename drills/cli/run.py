"""`drillhall run FILE`: the same engine as the web app, headless, for CI pipelines.

A playbook that faults protected hosts makes a run that waits for another person's approval
(drills/web/approvals.py): `run --as USERNAME` says who starts it, prints the run page and the
`drillhall approve` command, and waits up to ``--approval-wait`` seconds (900 by default). An
approval lets the run go on as usual; a decline, Ctrl-C, or no approval in time ends it
unapproved and the command exits 5 with the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from drills.cli.event_lines import describe
from drills.cli.main import (
    EXIT_ABORTED,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_NOT_ALLOWED,
    EXIT_NOT_APPROVED,
    EXIT_PASSED,
    say_err,
    setup_django,
)

# What `--quiet` still prints: how the run went, and who approved it.
QUIET_EVENTS = ("queued", "state", "result", "error", "abort", "approval")


def run_file(args: argparse.Namespace, say) -> int:  # type: ignore[no-untyped-def]
    from drills.cli.workers import AskedAhead

    path = Path(args.file)
    # Which of its agents run, and whether an orchestrator does, asked first: the question's
    # wait passes while the playbook is parsed and Django starts.
    ahead = AskedAhead(agent_queues_named(path))

    from drills.playbook.errors import PlaybookError
    from drills.playbook.parser import parse_file

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
    from drills.cli.acting_user import Refused, acting_user, version_to_run
    from drills.web.audit import Origin

    # Who runs it, and may they: before anything is saved, started or brought up.
    try:
        user = acting_user(getattr(args, "as_user", None))
        runnable = version_to_run(
            user,
            playbook.metadata.name,
            str(getattr(playbook.metadata, "owner", "") or ""),
            path.read_text(),
            f"drillhall run {path}",
            audit=Origin(user, "cli"),
        )
    except Refused as exc:
        say_err(f"{path}: refused: {exc}")
        return EXIT_NOT_ALLOWED
    if runnable.created:
        say(f"{playbook.metadata.name}: {runnable.created} (by {user.get_username()})")

    from django.conf import settings

    from drills.cli import labctl
    from drills.cli.drive_here import DriveHere
    from drills.cli.workers import worker_pool
    from drills.engine.states import RunState
    from drills.web.models import DrillRun
    from drills.web.run_control import abort_run, create_run, enqueue_run, prepare_to_enqueue
    from drills.web.run_document import run_document

    pool = worker_pool(settings.BASE_DIR / "var", f"cli-{os.getpid()}")
    # Who the audit log names for the save, the start and an abort: the user it acts as.
    origin = Origin(user, "cli")
    lab_hosts = lab_hosts_of(playbook)

    interrupted: dict[str, Any] = {"count": 0, "run": None}
    driving: DriveHere | None = None

    def on_signal(signum, frame):  # type: ignore[no-untyped-def]
        # Ctrl-C, and the SIGTERM or SIGHUP a pipeline's `timeout` or a closed terminal
        # sends: abort the run, wait for its reverts, stop what this run started.
        interrupted["count"] += 1
        name = signal.Signals(signum).name
        if interrupted["count"] == 1 and interrupted["run"] is not None:
            say(f"abort requested ({name}); reverting faults...")
            abort_run(interrupted["run"], f"aborted from the command line ({name})", origin=origin)
        else:  # nothing handed over yet, or a second signal: just leave
            raise KeyboardInterrupt

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, on_signal) for s in handled}
    pool.hold()
    try:
        if lab_hosts:
            pool.ensure_lab(lambda: lab_up(lab_hosts, say))
        version = runnable.version
        # The agents first, for the hosts the plan would use now: a run is created only once
        # they are there, so its clock starts with the drill. With no orchestrator worker
        # running, this process drives the run itself (drills/cli/drive_here.py) instead of
        # starting one and waiting for it.
        agents, optional = agents_for(planned_now(playbook))
        served = pool.ensure_workers(
            agents, say, optional=optional, orchestrator=False, ahead=ahead
        )
        prepare_to_enqueue()
        # The plan is resolved here, and stored with the run; everyone reads that one.
        run = create_run(version, user, source="cli", origin=origin)
        if run.finished_at is not None:
            say_err(f"{path}: {run.result.get('reason', 'the run could not start')}")
            return EXIT_ABORTED
        interrupted["run"] = run
        if run.state == RunState.AWAITING_APPROVAL:
            unapproved = _await_approval(run, say, args.approval_wait)
            if unapproved:
                say_err(f"{path}: run {run.id} was not approved: {unapproved}")
                return EXIT_NOT_APPROVED
            run.refresh_from_db()
        if served:
            if run.enqueued_at is None:  # an approval has already handed it over
                run = enqueue_run(run)
        else:
            # One that admission queues is handed to the orchestrator queue when its turn
            # comes: then the pool starts an orchestrator worker after all.
            driving = DriveHere(run.key, lambda: pool.ensure_workers({}, say)).start()
        say(f"run {run.id}: {playbook.metadata.name} v{version.number} started")
        result = _tail(run, say, quiet=args.quiet, done=driving.done if driving else None)
        run = DrillRun.objects.get(id=run.id)
        if args.json:
            # The run document (drillhall.run/v1), as before; `drillhall report RUN --format
            # json` gives the report model's JSON.
            Path(args.json).write_text(json.dumps(run_document(run), indent=2))
            say(f"report: {args.json}")
        write_reports(run, args, say)
        state = result.get("state", run.state)
        say(f"verdict: {state} ({result.get('reason', '')})")
        return {"passed": EXIT_PASSED, "failed": EXIT_FAILED}.get(state, EXIT_ABORTED)
    except Exception as exc:  # never a traceback, and never exit 1 ("an SLA failed") for it
        reason = str(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
        say_err(f"{path}: the run could not go on: {reason}")
        if interrupted["run"] is not None:
            # The run is not watched any more: stop it (its faults revert through their leases
            # if the orchestrator cannot be told either).
            abort_run(interrupted["run"], f"drillhall run stopped: {reason}"[:200], origin=origin)
        return EXIT_ABORTED
    finally:
        if driving is not None and not driving.wait():
            say_err(f"{path}: the run did not end in time; its faults revert by their leases")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        pool.leave(say, lab_down=lambda: labctl.down(say))


# `drillhall run` options that write a report of the run, and the format each writes.
REPORT_OPTIONS = (("report", "html"), ("pdf", "pdf"), ("junit", "junit"), ("md", "md"))


def write_reports(run: Any, args: argparse.Namespace, say) -> None:  # type: ignore[no-untyped-def]
    """Every report the options ask for, all from the one report model of the stored run."""
    wanted = [(getattr(args, option, None), fmt) for option, fmt in REPORT_OPTIONS]
    wanted = [(path, fmt) for path, fmt in wanted if path]
    if not wanted:
        return
    from drills.report.build import build_report
    from drills.report.formats import render_report
    from drills.web.report_source import run_source

    report = build_report(run_source(run))
    for path, fmt in wanted:
        Path(path).write_bytes(render_report(report, fmt).content)
        say(f"report: {path}")


def lab_hosts_of(playbook: Any) -> set[str]:
    """The lab's hosts a playbook names: selector targets match inventory labels, so only
    explicit host names can call for the lab."""
    from drills.cli import labctl

    hosts_needed = {str(getattr(t, "host", "")) for t in playbook.targets.values()} - {""}
    return hosts_needed & set(labctl.lab_hosts())


def agent_queues_named(path: Path) -> set[str]:
    """The agent queues of the hosts a playbook file's targets name, read from its YAML alone:
    a hint for asking early, before the parser (which imports the whole playbook model) has
    checked anything; what is not a host name, or not readable, names none."""
    from drills.playbook.errors import PlaybookError
    from drills.playbook.loader import load_yaml, read_text
    from injector.protocol import ProtocolError, agent_queue

    try:
        data = load_yaml(read_text(path), str(path)).data
    except (PlaybookError, OSError, ValueError):
        return set()
    targets = data.get("targets") if isinstance(data, dict) else None
    queues = set()
    for target in targets.values() if isinstance(targets, dict) else ():
        host = target.get("host") if isinstance(target, dict) else None
        if isinstance(host, str):
            with contextlib.suppress(ProtocolError):  # not a host name
                queues.add(agent_queue(host))
    return queues


def lab_up(lab_hosts: set[str], say) -> bool:  # type: ignore[no-untyped-def]
    """Bring the lab up for a run, or connect a present one; True when this brought it up."""
    from drills.cli import labctl
    from drills.web.models import Host

    if labctl.is_present():
        if not Host.objects.filter(name__in=lab_hosts).exists():
            labctl.register_present()  # a lab started with another database
        # Its agents' way to this run's Redis (another Redis may have been the lab's).
        labctl.connect_broker(lambda _: None)
        return False
    say("lab: not running; bringing it up for this run")
    labctl.up(say)
    return True


def planned_now(playbook: Any) -> list[Any]:
    """The plan the playbook would get now, for starting workers; none when it would be
    refused (creating the run says why)."""
    from drills.engine.plan import PlanError, resolve_plan
    from drills.web.hosts import inventory_snapshot

    try:
        return [resolve_plan(playbook, inventory_snapshot())]
    except PlanError:
        return []


def agents_for(plans: list[Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The agents runs of ``plans`` need (host -> network namespace): where faults land, and,
    optional, where only kernel collectors run (a partition's peers): started if missing, but
    the run does not depend on them."""
    from drills.web.models import Host

    fault_hosts = {fault.host for plan in plans for _, fault in plan.faults()}
    evidence_hosts = {c.host for plan in plans for c in plan.collectors} - fault_hosts
    known = dict(
        Host.objects.filter(name__in=fault_hosts | evidence_hosts).values_list("name", "netns")
    )
    agents = {h: ns for h, ns in known.items() if h in fault_hosts}
    optional = {h: ns for h, ns in known.items() if h in evidence_hosts}
    return agents, optional


def _await_approval(run, say, wait: float) -> str:  # type: ignore[no-untyped-def]
    """Say where to approve ``run`` and wait for it; "" once approved, else why not."""
    from django.conf import settings
    from django.urls import reverse

    from drills.engine.states import RunState
    from drills.web.approvals import (
        approval_limit,
        cancel_waiting_run,
        protected_hosts,
        protected_phrase,
    )
    from drills.web.liveness import Reaper
    from drills.web.models import DrillRun

    page = reverse("run-detail", args=[run.id])
    base = settings.DRILLHALL_URL
    where = f"{base}{page}" if base else f"{page} on the Drillhall web server"
    team = run.playbook.team
    asker = run.started_by.get_username()
    hosts = protected_hosts(run)
    say(
        f"run {run.id}: {run.playbook.name} v{run.version.number} faults "
        f"{protected_phrase(hosts)} and waits for approval by an approver of "
        f"{f'team {team.name}' if team else 'its team'} other than {asker}:"
    )
    say(f"  the run page: {where}")
    say(f"  or: drillhall approve {run.id} --as USERNAME")
    wait = min(wait, approval_limit())
    say(f"  waiting up to {wait:g} s (--approval-wait); Ctrl-C cancels the run")
    reaper = Reaper()
    deadline = time.monotonic() + wait
    while True:
        row = DrillRun.objects.get(id=run.id)
        if row.state != RunState.AWAITING_APPROVAL:
            if row.finished_at is None:
                return ""
            return str(row.result.get("reason") or f"it ended as {row.state}")
        if time.monotonic() >= deadline:
            # Only while it still waits: an approval that came meanwhile wins.
            cancel_waiting_run(row, f"drillhall run stopped waiting after {wait:g} s")
            continue  # the next look reads how it ended
        reaper.sweep(only=row)
        time.sleep(0.5)


def _tail(run, say, quiet: bool, done=None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Print the run's events as they are stored; return the result event's data. ``done``
    (the run driven here has ended) ends a wait between looks at once.

    Meanwhile, ask whether the run's orchestrator is still there (drills.web.liveness): a run
    whose orchestrator died is ended as error here, and its result event ends the wait; so is a
    run that no orchestrator worker is there to take.
    """
    from django.conf import settings

    from drills.cli.workers import active_queues
    from drills.web.liveness import Reaper
    from drills.web.models import DrillRun, RunEvent
    from drills.web.run_control import end_run

    reaper = Reaper()
    queue = settings.DRILLHALL_ORCHESTRATOR_QUEUE
    # Long enough for a supervisor to bring a crashed orchestrator back and take the run.
    untaken_limit = max(30.0, 2 * settings.DRILLHALL_REQUEUE_SECONDS)
    handed = time.monotonic()
    last = 0
    t0: float | None = None
    samples = errors = 0
    next_check = time.monotonic() + 1.0
    while True:
        events = list(RunEvent.objects.filter(run_id=run.id, seq__gt=last).order_by("seq")[:500])
        for event in events:
            last = event.seq
            if event.type != "queued":  # time spent queued is not the drill's
                t0 = t0 if t0 is not None else event.t
            line = describe(event.type, event.data)
            if event.type == "sample":
                samples += 1
                errors += 0 if event.data.get("ok") else 1
            if line and (not quiet or event.type in QUIET_EVENTS):
                say(f"  +{event.t - t0:6.2f}s {line}" if t0 is not None else f"  {line}")
            if event.type == "result":
                say(f"  probe samples: {samples}, errors: {errors}")
                return dict(event.data)
        if not events:
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + 1.0
                reaper.sweep(only=run)
                pending = DrillRun.objects.filter(id=run.id, started_at__isnull=True).exists()
                if pending and time.monotonic() - handed > untaken_limit:
                    try:
                        listening = queue in active_queues(timeout=0.5)
                    except Exception:  # the broker is away: it cannot say, so wait on
                        listening = True
                    if not listening:
                        end_run(
                            run,
                            f"no orchestrator worker took the run from the queue {queue!r} "
                            f"within {untaken_limit:g} s, and none is listening there; start "
                            "one (make demo starts one) and run the drill again",
                        )
            if done is None:
                time.sleep(0.2)
            elif done.wait(0.2):
                done = None  # look once more now; a run handed over is followed as before
