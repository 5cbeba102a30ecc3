"""Pausing and resuming a game day's schedule from its page.

A paused schedule decides its fire times as skipped ("the schedule is paused"), recorded like
any other (drills.web.gameday_clock); a run that already started goes on (Stop ends it).
The flag changes by compare-and-set, so two clicks write one change and one audit entry.
"""

from __future__ import annotations

from django.db import transaction

from drills.web.audit import AuditAction, Origin, record_as
from drills.web.models import GameDay


def set_paused(gameday: GameDay, paused: bool, origin: Origin) -> bool:
    """Pause (or resume) the schedule; False when it already was."""
    with transaction.atomic():
        changed = GameDay.objects.filter(id=gameday.id, paused=not paused).update(paused=paused)
        if changed:
            record_as(
                AuditAction.GAMEDAY_SCHEDULE,
                origin,
                object_type="gameday",
                object_id=gameday.name,
                summary=f"{'paused' if paused else 'resumed'} the schedule of game day "
                f"{gameday.name}",
            )
    gameday.paused = paused  # as stored now, whether this call or an earlier one set it
    return bool(changed)
