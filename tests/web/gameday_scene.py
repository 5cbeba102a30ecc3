"""The personas' team's game day (tests/fixtures/gamedays/team-day.yaml), a run of it whose first
drill runs, and an action item: what the game-day pages and the role matrix act on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drills.web.models import ActionItem, DrillRun, GameDay, GameDayRun
from tests.web.personas import World, make_run

TEAM_DAY = (
    Path(__file__).resolve().parent.parent / "fixtures" / "gamedays" / "team-day.yaml"
).read_text()


@dataclass
class GameDayScene:
    gameday: GameDay
    run: GameDayRun
    drill: DrillRun
    item: ActionItem
    idle: GameDay  # the same team's, with no run open: one that Start now may start


def build_gameday_scene(world: World) -> GameDayScene:
    gameday = GameDay.objects.create(name="team-day", owner=world.owner, team=world.team)
    first = gameday.save_version(TEAM_DAY, world.owner, "first")
    gameday.save_version(TEAM_DAY + "\n# v2\n", world.owner, "second")
    run = GameDayRun.objects.create(
        gameday=gameday, version=first, state="running", started_by=world.operator
    )
    drill = make_run(world.version, world.operator, state="observing")
    DrillRun.objects.filter(id=drill.id).update(gameday_run=run, gameday_position=0)
    drill.refresh_from_db()
    item = ActionItem.objects.create(
        run=run, text="Alert on checkout errors", owner=world.member, created_by=world.owner
    )
    idle = GameDay.objects.create(name="idle-day", owner=world.owner, team=world.team)
    idle.save_version(TEAM_DAY.replace("name: team-day", "name: idle-day"), world.owner)
    return GameDayScene(gameday, run, drill, item, idle)
