"""The database of the live API test (tests/web/test_api_schemathesis.py), made in its own
process against its own SQLite file: the personas' world, a game day with a run, a finished
run with events, and no host in the inventory, so any run the API starts is refused by the
planner at once and no fault can be sent anywhere. Prints the admin's API token and the ids
the test pins path parameters to, as JSON on one line.

    python -m tests.web.api_live_seed
"""

from __future__ import annotations

import json
import os


def seed() -> dict[str, object]:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)

    from drills.web.audit import SYSTEM
    from drills.web.models import Host, RunEvent
    from drills.web.token_issuing import create_token
    from tests.web.gameday_scene import build_gameday_scene
    from tests.web.personas import build_world, make_run

    assert not Host.objects.exists(), "the live API test's inventory must be empty"
    world = build_world()
    world.playbook.save_version(world.version.content + "\n# v2\n", author=world.owner)
    scene = build_gameday_scene(world)
    run = make_run(world.version, world.operator, state="passed")
    for seq, state in enumerate(["preflight", "baseline", "passed"], start=1):
        RunEvent.objects.create(
            run=run, seq=seq, type="state", t=1000.0 + seq, data={"state": state}
        )
    return {
        "token": create_token(world.admin, "schemathesis", SYSTEM).secret,
        "run_id": run.id,
        "gameday_run_id": scene.run.id,
        "name": world.playbook.name,
        "gameday": scene.gameday.name,
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drillhall.settings")
    import django

    django.setup()
    print(json.dumps(seed()))
