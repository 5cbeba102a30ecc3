"""A game day of two wait-only drills, stored, with its channels (tests of game-day runs)."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.models import Group, User

from drills.web.models import GameDay, NotificationChannel, Playbook

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
WAIT_ONLY = (FIXTURES / "playbooks" / "cli" / "wait-only.yaml").read_text()
TWO_WAITS = (FIXTURES / "gamedays" / "two-waits.yaml").read_text()


def store_two_waits(owner: User, team: Group | None = None, text: str = TWO_WAITS) -> GameDay:
    for name in ("wait-a", "wait-b"):
        playbook = Playbook.objects.create(name=name, owner=owner, team=team)
        playbook.save_version(WAIT_ONLY.replace("name: wait-only", f"name: {name}"), owner)
    for name, kind in (("ops", "webhook"), ("pager", "webhook"), ("digest", "slack")):
        NotificationChannel.objects.get_or_create(
            name=name, defaults={"kind": kind, "url": "http://127.0.0.1:9/hook"}
        )
    gameday = GameDay.objects.create(name="two-waits", owner=owner, team=team)
    gameday.save_version(text, owner)
    return gameday
