"""An agent's worker never loads the web app, even where the environment names its settings.

The CLI, the lab and the demo start agents from a process that has DJANGO_SETTINGS_MODULE set,
and Celery sets Django up in any worker it finds that variable in (its Django fixup): the
whole web app, its models and its views, about 60 MiB of an agent that never touches the
database (bench/agent_memory.py measured 115 MiB for an idle worker with it, 55 without).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What a worker does at start, before it consumes: its loader's start-up and the import of the
# app's modules (where the Django fixup would call django.setup()).
WORKER_START = """
import json, sys
from injector.agent import app
app.loader.init_worker()
app.loader.import_default_modules()
app.finalize()
# (kombu's JSON module imports a corner of django.utils wherever Django is installed.)
web_app = {"drills", "drillhall", "django.apps", "django.db.models", "django.contrib"}
loaded = sorted(web_app & set(sys.modules))
print(json.dumps(loaded))
"""


def test_an_agent_worker_started_beside_the_web_app_loads_no_django() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "drillhall.settings"}
    out = subprocess.run(
        [sys.executable, "-c", WORKER_START],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout.splitlines()[-1]) == [], out.stderr
