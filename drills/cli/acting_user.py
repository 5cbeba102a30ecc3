"""Who the command line acts as, and whether that person may do what they ask.

`drillhall run` creates runs and may save playbooks, so it acts as a named user
(``--as USERNAME`` or ``DRILLHALL_USER``) and is held to that user's roles exactly as the web
pages are (drills.web.roles, drills.web.access). A refusal is a sentence and exit code 4;
nothing is saved before every check has passed.

Commands that change nothing on the server need no name: ``validate`` and ``import-ctk`` read
and write local files only.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

ENV = "DRILLHALL_USER"


class Refused(Exception):
    """The named person may not do this; the message is the sentence to print."""


@dataclass(frozen=True)
class Runnable:
    """The version a run will pin, and who starts it."""

    user: Any
    version: Any
    created: str  # "" when the stored text was run as it is, else what was saved


def acting_user(name: str | None) -> Any:
    """The active user named by ``--as`` or DRILLHALL_USER."""
    from django.contrib.auth import get_user_model

    name = (name or os.environ.get(ENV, "")).strip()
    if not name:
        raise Refused(
            "drillhall run acts as a person: name one with --as USERNAME or "
            f"{ENV}=USERNAME (an admin gives roles with `manage.py grant USERNAME operator "
            "TEAM`)"
        )
    user = get_user_model().objects.filter(username=name).first()
    if user is None or not user.is_active:
        raise Refused(
            f"there is no active user {name}; an admin makes one with "
            f"`manage.py grant {name} operator TEAM --create`"
        )
    return user


def version_to_run(
    user: Any, name: str, owner: str, text: str, origin: str, *, audit: Any = None
) -> Runnable:
    """The version of playbook ``name`` holding ``text`` that ``user`` may run.

    The stored latest version when the text is the same (running needs the operator role);
    otherwise the text is saved first, which needs the author role too, and a new playbook
    goes to a team where its author is an author (drills.web.access.home_team).
    """
    from django.db import transaction

    from drills.web.access import NoTeam, home_team, refusal
    from drills.web.models import Playbook
    from drills.web.roles import Action, can

    record = Playbook.objects.select_related("team").filter(name=name).first()
    if record is None:
        if not can(user, Action.EDIT):
            raise Refused(
                f"{name} is a new playbook: " + _lower(refusal(user, Action.EDIT, None, you=False))
            )
        try:
            team = home_team(user, owner, you=False)
        except NoTeam as exc:
            raise Refused(str(exc)) from None
        if not can(user, Action.RUN, Playbook(name=name, team=team, owner=user)):
            where = f"team {team.name}" if team else "no team"
            raise Refused(
                f"{name} would be saved in {where}, where {user.get_username()} may not run "
                f"it: that needs the operator role there"
            )
        with transaction.atomic():
            record = Playbook.objects.create(name=name, owner=user, team=team)
            version = record.save_version(text, author=user, message=origin, origin=audit)
        where = f" in team {team.name}" if team else ""
        return Runnable(user, version, f"saved as a new playbook{where}")
    if not can(user, Action.VIEW, record):
        raise Refused(
            f"a playbook named {name} exists in a team where {user.get_username()} holds no "
            "role; ask one of its admins, or rename yours (metadata.name)"
        )
    if not can(user, Action.RUN, record):
        raise Refused(refusal(user, Action.RUN, record, you=False))
    latest = record.latest_version()
    if latest is not None and latest.content_hash == hashlib.sha256(text.encode()).hexdigest():
        return Runnable(user, latest, "")
    if not can(user, Action.EDIT, record):
        stored = f"v{latest.number}" if latest else "nothing"
        raise Refused(
            f"this file differs from the stored {stored} of {name}, and saving it needs the "
            f"author role: " + _lower(refusal(user, Action.EDIT, record, you=False))
        )
    version = record.save_version(text, author=user, message=origin, origin=audit)
    return Runnable(user, version, f"saved as v{version.number}")


def _lower(sentence: str) -> str:
    return sentence[:1].lower() + sentence[1:]
