"""The documents `drillhall validate` (and later `drillhall apply`) read: a playbook or a game
day, told apart by their ``kind``, each read by its own strict parser."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from drills.gameday.document import GameDay
from drills.gameday.fire_times import Outcome, next_fire_times
from drills.gameday.load import parse_gameday
from drills.playbook.loader import load_yaml, read_text
from drills.playbook.model import Playbook
from drills.playbook.parser import parse_playbook

GAME_DAY_KIND = "GameDay"


def read_document(path: Path) -> Playbook | GameDay:
    """The document in ``path``; raises PlaybookError (with positions) or OSError."""
    text = read_text(path)
    if kind_of(text, str(path)) == GAME_DAY_KIND:
        return parse_gameday(text, str(path))
    return parse_playbook(text, str(path))


def kind_of(text: str, filename: str) -> str:
    """The ``kind`` a document says it is ("" when it says none); raises PlaybookError when it
    is not YAML the strict loader takes."""
    data = load_yaml(text, filename).data
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else ""


def summary(document: Playbook | GameDay, now: dt.datetime) -> str:
    """What `validate` says of a document that is ok."""
    if isinstance(document, Playbook):
        steps = len(document.steps)
        return f"{document.metadata.name}, {steps} step{'s' if steps != 1 else ''}"
    drills = len(document.drills)
    said = f"game day {document.metadata.name}, {drills} drill{'s' if drills != 1 else ''}"
    if document.schedule is None:
        return f"{said}, not scheduled"
    coming = [d for d in next_fire_times(document.schedule, now) if d.outcome is Outcome.RUN]
    if not coming:
        return f"{said}, no fire time ahead"
    return f"{said}, next at {coming[0].fire_time:%a %Y-%m-%d %H:%M %Z}"
