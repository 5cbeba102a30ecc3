"""The files in examples/, by kind: most tests of playbooks read every example playbook, and
examples/ holds a game day too."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def kind(path: Path) -> str:
    data = yaml.safe_load(path.read_text())
    return str(data.get("kind", "")) if isinstance(data, dict) else ""


EXAMPLE_PLAYBOOKS = [path for path in EXAMPLES if kind(path) == "Playbook"]
EXAMPLE_GAME_DAYS = [path for path in EXAMPLES if kind(path) == "GameDay"]
