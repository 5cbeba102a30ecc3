"""What people write down about a game-day run: an observation per drill (passed, failed or
unsure; incident detected and mitigated, and when; notes) and action items for the day, each
with an owner. Recorded during the run and after it; every change is one audit entry, written
in the same transaction.

Who may: the operator role in the game day's team (those who run it), an admin, and the
participants the run's document names who hold any role in the team: an observer or a
reporter writes down what they saw without being allowed to start or stop drills.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet

from drills.playbook.errors import PlaybookError
from drills.web.audit import AuditAction, Origin, record_as
from drills.web.models import ActionItem, DrillRun, GameDay, GameDayRun, Observation
from drills.web.models.gamedays import Verdict
from drills.web.roles import Action, can

NOTES_MAX = 10000
ACTION_TEXT_MAX = 500


class NotRecorded(Exception):
    """An observation or action item that cannot be stored, with the sentence that says why."""


def participants(run: GameDayRun) -> dict[str, str]:
    """User name -> position, as the run's own version of the document lists them."""
    from drills.web.gameday_runs import document_of

    try:
        document = document_of(run.version)
    except PlaybookError:
        return {}
    return {p.user: p.position.value for p in document.participants}


def may_record(user: Any, run: GameDayRun) -> bool:
    """May ``user`` record observations and action items on ``run``."""
    if can(user, Action.RUN, run.gameday):
        return True
    return can(user, Action.VIEW, run.gameday) and user.get_username() in participants(run)


def possible_owners(gameday: GameDay) -> QuerySet[User]:
    """Who an action item may be given to: the active people with a role in the team."""
    if gameday.team_id is None:
        return User.objects.filter(id=gameday.owner_id, is_active=True)
    return (
        User.objects.filter(drillhall_memberships__team_id=gameday.team_id, is_active=True)
        .distinct()
        .order_by("username")
    )


@dataclass(frozen=True)
class Seen:
    """One observation as submitted."""

    verdict: Verdict
    detected: bool
    detected_at: dt.datetime | None
    mitigated: bool
    mitigated_at: dt.datetime | None
    notes: str

    def sentence(self) -> str:
        parts = [self.verdict.label]
        parts.append(_incident("detected", self.detected, self.detected_at))
        parts.append(_incident("mitigated", self.mitigated, self.mitigated_at))
        return "; ".join(parts)


def _incident(what: str, happened: bool, at: dt.datetime | None) -> str:
    if not happened:
        return f"incident not {what}"
    if at is None:
        return f"incident {what}"
    return f"incident {what} at {at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def record_observation(
    run: GameDayRun, position: int, seen: Seen, user: Any, origin: Origin
) -> Observation:
    """Store (or replace) the observation of drill ``position`` (1-based) of ``run``."""
    drill = DrillRun.objects.filter(gameday_run=run, gameday_position=position - 1).first()
    if drill is None:
        raise NotRecorded(
            f"Drill {position} of this game day has not started, so there is nothing to "
            "observe yet; record it once it runs."
        )
    if (seen.detected_at and not seen.detected) or (seen.mitigated_at and not seen.mitigated):
        raise NotRecorded("A time was given for an incident that was not ticked as happened.")
    with transaction.atomic():
        observation, created = Observation.objects.update_or_create(
            drill_run=drill,
            defaults={
                "run": run,
                "verdict": seen.verdict.value,
                "detected": seen.detected,
                "detected_at": seen.detected_at,
                "mitigated": seen.mitigated,
                "mitigated_at": seen.mitigated_at,
                "notes": seen.notes[:NOTES_MAX],
                "author": user if getattr(user, "pk", None) else None,
            },
        )
        verb = "recorded" if created else "changed"
        record_as(
            AuditAction.OBSERVATION,
            origin,
            object_type="gameday_run",
            object_id=run.id,
            summary=f"{verb} the observation of drill {position} ({drill.version.playbook.name}) "
            f"of game day run {run.id}: {seen.sentence()}",
            content=seen.notes,
        )
    return observation


def add_action_item(
    run: GameDayRun, text: str, owner_id: int | None, user: Any, origin: Origin
) -> ActionItem:
    text = " ".join(text.split())
    if not text:
        raise NotRecorded("An action item needs a text: what is to be done.")
    if len(text) > ACTION_TEXT_MAX:
        raise NotRecorded(f"An action item is at most {ACTION_TEXT_MAX} characters.")
    owner = possible_owners(run.gameday).filter(id=owner_id).first() if owner_id else None
    if owner is None:
        raise NotRecorded("An action item needs an owner who holds a role in the game day's team.")
    with transaction.atomic():
        item = ActionItem.objects.create(
            run=run, text=text, owner=owner, created_by=user if getattr(user, "pk", None) else None
        )
        record_as(
            AuditAction.ACTION_ITEM,
            origin,
            object_type="gameday_run",
            object_id=run.id,
            summary=f"added action item {item.id} of game day run {run.id} for "
            f"{owner.get_username()}: {text}",
            content=text,
        )
    return item


def set_done(item: ActionItem, done: bool, origin: Origin) -> bool:
    """Mark an action item done (or not done again); False when it already was."""
    with transaction.atomic():
        changed = ActionItem.objects.filter(id=item.id, done=not done).update(done=done)
        if changed:
            record_as(
                AuditAction.ACTION_ITEM,
                origin,
                object_type="gameday_run",
                object_id=item.run_id,
                summary=f"marked action item {item.id} of game day run {item.run_id} "
                f"{'done' if done else 'not done'}: {item.text}",
                content=item.text,
            )
    return bool(changed)
