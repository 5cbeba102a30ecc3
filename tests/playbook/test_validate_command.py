"""`drillhall validate FILE...` through the real command line: what CI pipelines run.

It needs no server and no inventory, and refuses everything that can be known without one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
DEMO = (ROOT / "examples" / "partition-demo.yaml").read_text()

# The three playbooks users saw validate as "ok", each with where and what the issue is.
NEVER_RUN = {
    "huge-duration": (
        DEMO.replace("duration: 10s", "duration: 99999999999999999999999s"),
        "23:15: steps[1].duration: must be at most 24h, found '99999999999999999999999s'",
    ),
    "fault-over-max-duration": (
        DEMO.replace("duration: 10s", "duration: 2h") + "limits: {max_duration: 1m}\n",
        "23:15: the fault network.partition lasts 2h, longer than limits.max_duration (1m)",
    ),
    "url-port-70000": (
        DEMO.replace("http://web:8080/", "http://web:70000/"),
        "15:29: probes[0].http.url: port 70000 is out of range, expected 1..65535",
    ),
}


def validate(*files: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "drills.cli.main", "validate", *map(str, files)]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case", sorted(NEVER_RUN))
def test_a_playbook_that_can_never_run_exits_2_with_its_position(case: str, tmp_path: Path) -> None:
    text, issue = NEVER_RUN[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)

    result = validate(path)

    assert result.returncode == 2, result.stdout
    assert f"{path}:{issue}" in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_every_example_validates() -> None:
    assert EXAMPLES

    result = validate(*EXAMPLES)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert [line.split(": ok")[0] for line in result.stdout.splitlines()] == list(
        map(str, EXAMPLES)
    )


def test_a_refused_value_is_echoed_with_its_control_characters_escaped(tmp_path: Path) -> None:
    # The terminal of whoever validates must not run the playbook's escape sequences, and a
    # newline in a value must not start a line that looks like another verdict.
    path = tmp_path / "escapes.yaml"
    path.write_text(DEMO.replace("name: partition-demo", 'name: "x\\e]0;pwned\\a\\nok: fine\\r"'))

    result = validate(path)

    assert result.returncode == 2
    assert not [c for c in result.stderr if ord(c) < 32 and c != "\n"], repr(result.stderr)
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith(f"{path}:") for line in lines), lines
    assert "x\\x1b]0;pwned\\x07\\nok: fine\\r" in result.stderr


def test_the_summary_counts_steps_in_words(tmp_path: Path) -> None:
    one = tmp_path / "one-step.yaml"
    one.write_text(
        DEMO.replace(
            "  - wait: 5s                      # baseline: steady state must hold first\n", ""
        )
    )
    result = validate(one, ROOT / "examples" / "partition-demo.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"{one}: ok (partition-demo, 1 step)",
        f"{ROOT / 'examples' / 'partition-demo.yaml'}: ok (partition-demo, 2 steps)",
    ]
