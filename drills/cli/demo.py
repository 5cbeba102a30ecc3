"""`drillhall demo` (what `make demo` runs): database, admin user, lab, workers, web UI, a drill."""

from __future__ import annotations

import argparse
import secrets
import signal
import socket
import time
import urllib.request
from pathlib import Path

from drillhall.secret_key import LOCAL_KEY_FILE, write_local_key
from drills.cli.main import setup_django


def load_examples(owner, say) -> list[str]:  # type: ignore[no-untyped-def]
    from django.conf import settings

    from drills.cli.documents import GAME_DAY_KIND, kind_of
    from drills.playbook.errors import PlaybookError
    from drills.playbook.parser import parse_playbook
    from drills.web.audit import SYSTEM
    from drills.web.models import Playbook

    loaded = []
    gamedays = []
    for path in sorted((settings.BASE_DIR / "examples").glob("*.yaml")):
        text = path.read_text()
        if kind_of(text, str(path)) == GAME_DAY_KIND:
            gamedays.append(path)  # after the playbooks they name
            continue
        try:
            playbook = parse_playbook(text, str(path))
        except PlaybookError as exc:
            say(f"examples: {path.name} is invalid, skipped:\n{exc}")
            continue
        record, _ = Playbook.objects.get_or_create(
            name=playbook.metadata.name, defaults={"owner": owner}
        )
        record.save_version(
            text, author=owner, message=f"loaded from examples/{path.name}", origin=SYSTEM
        )
        loaded.append(record.name)
    loaded.extend(load_example_gamedays(gamedays, owner, say))
    say(f"examples: loaded {', '.join(loaded) or 'none'}")
    return loaded


def load_example_gamedays(paths, owner, say) -> list[str]:  # type: ignore[no-untyped-def]
    from drills.gameday.load import parse_gameday
    from drills.playbook.errors import PlaybookError
    from drills.web.audit import SYSTEM
    from drills.web.models import GameDay

    loaded = []
    for path in paths:
        text = path.read_text()
        try:
            document = parse_gameday(text, str(path))
        except PlaybookError as exc:
            say(f"examples: {path.name} is invalid, skipped:\n{exc}")
            continue
        record, _ = GameDay.objects.get_or_create(
            name=document.metadata.name, defaults={"owner": owner}
        )
        record.save_version(
            text, author=owner, message=f"loaded from examples/{path.name}", origin=SYSTEM
        )
        loaded.append(f"game day {record.name}")
    return loaded


def ensure_admin(say):  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    users = get_user_model()
    admin = users.objects.filter(username="admin").first()
    if admin is not None:
        say(
            "admin: user 'admin' exists (its password was printed when it was made; "
            "reset it with `.venv/bin/python manage.py changepassword admin`)"
        )
        return admin
    password = secrets.token_urlsafe(12)
    admin = users.objects.create_superuser("admin", "admin@localhost", password)
    say(f"admin: created user 'admin' with password {password}  (shown once)")
    return admin


def demo(args: argparse.Namespace, say) -> int:  # type: ignore[no-untyped-def]
    # `make demo` has the set-up write var/secret-key first; `drillhall demo` on its own writes
    # it too, so that a demo never asks for a SECRET_KEY (drillhall/secret_key.py).
    if write_local_key():
        say(f"secret key: wrote a random SECRET_KEY to {LOCAL_KEY_FILE}")
    setup_django()
    from django.conf import settings

    from drills.cli import labctl
    from drills.cli.process_group import ProcessGroup
    from drills.cli.workers import agent_argv, beat_argv, orchestrator_argv, web_argv
    from drills.web.audit import SYSTEM
    from drills.web.models import Playbook
    from drills.web.run_control import start_run

    admin = ensure_admin(say)
    labctl.up(say)
    loaded = load_examples(admin, say)
    group = ProcessGroup(settings.BASE_DIR / "var" / "logs" / "demo")
    stopping = {"now": False}

    def on_signal(signum, frame):  # type: ignore[no-untyped-def]
        stopping["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        url = f"http://127.0.0.1:{args.port}/"
        # Drills silence their targets' alerts in it; the web server and the orchestrator read
        # DRILLHALL_ALERTMANAGER_URL from their environment.
        silencing = start_alertmanager(group, settings.BASE_DIR / "var" / "alertmanager", say)
        group.start("web", web_argv(args.port), silencing)
        # One per core (DRILLHALL_ORCHESTRATOR_PROCESSES): each has a GIL of its own.
        for number in range(1, settings.DRILLHALL_ORCHESTRATOR_PROCESSES + 1):
            name = f"orchestrator-{number}"
            group.start(name, orchestrator_argv(f"{name}-demo"), silencing)
        # Beat sends the game-day clock's tick (drills/web/gameday_clock.py).
        group.start("beat", beat_argv())
        for host, netns in labctl.lab_hosts().items():
            group.start(f"agent-{host}", agent_argv(host, netns))
        _wait_for_http(url + "accounts/login/", group)
        say(f"web: {url}  (log in as admin; logs in {group.log_dir})")
        if not args.no_drill and "partition-demo" in loaded:
            version = Playbook.objects.get(name="partition-demo").latest_version()
            run = start_run(version, admin, source="demo", origin=SYSTEM)
            say(f"demo drill: {url}runs/{run.id}/  (start more from the playbook page)")
        say("Ctrl-C stops everything and takes the lab down.")
        while not stopping["now"]:
            dead = group.dead()
            if dead:
                say(f"{dead[0].name} exited; see {dead[0].log}")
                break
            time.sleep(0.5)
    finally:
        say("stopping workers, agents and the web server...")
        group.stop()
        labctl.down(say)
    return 0


def start_alertmanager(group, directory: Path, say) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """An Alertmanager of the demo's own on loopback, its configuration and silences under
    ``directory``; the environment that points the demo's processes at it. One named by
    DRILLHALL_ALERTMANAGER_URL already is used instead; without the binary, nothing is silenced."""
    from django.conf import settings

    from drills.engine.alertmanager import AlertmanagerClient
    from drills.lab import local_alertmanager
    from drills.lab.lab_error import LabError

    if settings.DRILLHALL_ALERTMANAGER_URL:
        shown = AlertmanagerClient(settings.DRILLHALL_ALERTMANAGER_URL).url  # no password
        say(f"alertmanager: drills silence alerts in {shown} (DRILLHALL_ALERTMANAGER_URL)")
        return {}
    program = local_alertmanager.binary()
    if program is None:
        say("alertmanager: not installed (apt-get install prometheus-alertmanager, or make "
            "setup): drills run without silencing alerts")  # fmt: skip
        return {}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = local_alertmanager.write_config(directory)
    argv = local_alertmanager.argv(program, config, directory / "data", port)
    child = group.start("alertmanager", argv)
    am_url = f"http://127.0.0.1:{port}"
    try:
        local_alertmanager.wait_ready(am_url, child.proc, child.log)
    except LabError as exc:
        group.stop_child(child)  # optional: the demo goes on without it
        say(f"alertmanager: {exc}; drills run without silencing alerts")
        return {}
    say(f"alertmanager: {am_url}/#/silences shows the silences drills make")
    return {"DRILLHALL_ALERTMANAGER_URL": am_url}


def _wait_for_http(url: str, group, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if group.dead():
            child = group.dead()[0]
            raise RuntimeError(f"{child.name} exited; its log:\n{child.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback)
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the web server did not answer at {url} within {timeout:g}s")
