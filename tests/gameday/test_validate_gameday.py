"""`drillhall validate` reads game days too, through the real command line: a pipeline gates
game days on it as it does playbooks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "fixtures" / "gamedays" / "bad-schedule.yaml"
EXAMPLE = ROOT / "examples" / "gameday.yaml"


def validate(*files: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "drills.cli.main", "validate", *map(str, files)]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_game_day_validates_and_says_its_next_fire_time() -> None:
    result = validate(EXAMPLE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{EXAMPLE}: ok (game day lab-tuesday, 2 drills, next at Tue ")
    assert result.stdout.rstrip().endswith(" 10:00 CET)") or result.stdout.rstrip().endswith(
        " 10:00 CEST)"
    )


def test_every_problem_of_a_game_day_is_a_line_with_its_position_and_exit_2() -> None:
    result = validate(BAD, EXAMPLE)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 8 and all(line.startswith(f"{BAD}:") for line in lines), lines
    assert f"{BAD}:7:13: schedule.timezone: unknown time zone 'Europe/Berln'" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith(f"{EXAMPLE}: ok (game day lab-tuesday")
