"""`drillhall apply FILE...`: load playbooks and game days into the server, idempotently.

Everything is read and checked before anything is saved, and all of it is saved in one
transaction: a bad file, a role the user lacks, or a game day that names a playbook or a channel
the server does not have, and nothing at all is applied. A file whose text equals the stored
latest version changes nothing (and writes no audit entry), so applying twice is applying once.
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drills.cli.main import (
    EXIT_INVALID,
    EXIT_NOT_ALLOWED,
    EXIT_PASSED,
    say_err,
    setup_django,
)


@dataclass(frozen=True)
class Loaded:
    path: Path
    kind: str  # "Playbook" | "GameDay"
    name: str
    owner: str
    text: str
    document: Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "--as",
        dest="as_user",
        metavar="USERNAME",
        help="the user who saves them (default: $DRILLHALL_USER); needs the author role",
    )


def cmd_apply(args: argparse.Namespace, say) -> int:  # type: ignore[no-untyped-def]
    from drills.cli.documents import GAME_DAY_KIND, read_document
    from drills.gameday.document import GameDay
    from drills.playbook.errors import PlaybookError

    loaded: list[Loaded] = []
    bad = False
    for name in args.files:
        path = Path(name)
        try:
            document = read_document(path)
        except PlaybookError as exc:
            for issue in exc.issues:
                say_err(str(issue))
            bad = True
            continue
        except OSError as exc:
            say_err(f"{path}: cannot read: {exc.strerror}")
            bad = True
            continue
        kind = GAME_DAY_KIND if isinstance(document, GameDay) else "Playbook"
        owner = str(getattr(document.metadata, "owner", "") or "")
        loaded.append(Loaded(path, kind, document.metadata.name, owner, path.read_text(), document))
    if bad:
        say_err("nothing was applied")
        return EXIT_INVALID
    names = [(d.kind, d.name) for d in loaded]
    twice = {n for n in names if names.count(n) > 1}
    if twice:
        kind, name = sorted(twice)[0]
        say_err(f"{name}: two files hold the {_kind(kind)} {name}; nothing was applied")
        return EXIT_INVALID

    setup_django()
    from django.db import transaction

    from drills.cli.acting_user import Refused, acting_user
    from drills.web.audit import Origin

    try:
        user = acting_user(getattr(args, "as_user", None))
        problems = references(loaded)
        if problems:
            for problem in problems:
                say_err(problem)
            say_err("nothing was applied")
            return EXIT_INVALID
        with transaction.atomic():
            said = [save(user, d, Origin(user, "cli")) for d in loaded]
    except Refused as exc:
        say_err(f"refused: {exc}; nothing was applied")
        return EXIT_NOT_ALLOWED
    for line in said:
        say(line)
    return EXIT_PASSED


def references(loaded: list[Loaded]) -> list[str]:
    """What the game days name that the server (or this apply) does not have: playbooks, their
    pinned versions, and notification channels."""
    from drills.web.models import NotificationChannel, Playbook

    applied = {d.name for d in loaded if d.kind == "Playbook"}
    problems = []
    for d in loaded:
        if d.kind == "Playbook":
            continue
        for position, drill in enumerate(d.document.drills, 1):
            stored = Playbook.objects.filter(name=drill.playbook).first()
            if stored is None and drill.playbook not in applied:
                problems.append(
                    f"{d.path}: drill {position} names the playbook {drill.playbook}, which is "
                    "neither on the server nor in this apply"
                )
            elif drill.version != "latest":
                has = stored is not None and stored.versions.filter(number=drill.version).exists()
                if not has:
                    problems.append(
                        f"{d.path}: drill {position} pins {drill.playbook} v{drill.version}, "
                        "which the server does not have"
                    )
        for notification in d.document.notify:
            if not NotificationChannel.objects.filter(name=notification.channel).exists():
                problems.append(
                    f"{d.path}: the server has no notification channel {notification.channel}; "
                    "an admin adds it in the admin site (Notification channels)"
                )
    return problems


def save(user: Any, d: Loaded, origin: Any) -> str:
    """Save one document as ``user``; the sentence that says what happened."""
    from drills.cli.acting_user import Refused
    from drills.web.access import NoTeam, home_team, refusal
    from drills.web.models import GameDay, Playbook
    from drills.web.roles import Action, can

    model = GameDay if d.kind != "Playbook" else Playbook
    what = f"{_kind(d.kind)} {d.name}"
    record = model.objects.select_related("team").filter(name=d.name).first()
    message = f"drillhall apply {d.path}"
    if record is None:
        if not can(user, Action.EDIT):
            raise Refused(f"{what} is new: " + refusal(user, Action.EDIT, None, you=False))
        try:
            team = home_team(user, d.owner, you=False)
        except NoTeam as exc:
            raise Refused(str(exc)) from None
        record = model.objects.create(name=d.name, owner=user, team=team)
        record.save_version(d.text, author=user, message=message, origin=origin)
        where = f" in team {team.name}" if team else ""
        return f"{d.path}: {what} created as v1{where}"
    if not can(user, Action.VIEW, record):
        raise Refused(
            f"a {_kind(d.kind)} named {d.name} exists in a team where {user.get_username()} "
            "holds no role"
        )
    latest = record.latest_version()
    if latest is not None and latest.content_hash == hashlib.sha256(d.text.encode()).hexdigest():
        return f"{d.path}: {what} unchanged (v{latest.number})"
    if not can(user, Action.EDIT, record):
        raise Refused(refusal(user, Action.EDIT, record, you=False))
    version = record.save_version(d.text, author=user, message=message, origin=origin)
    return f"{d.path}: {what} saved as v{version.number}"


def _kind(kind: str) -> str:
    return "game day" if kind != "Playbook" else "playbook"
