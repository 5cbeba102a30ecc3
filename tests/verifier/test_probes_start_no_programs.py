"""Probes start no program: they sample in Python, so nothing of a playbook reaches an argv.

The command probe ran programs with the orchestrator's whole environment; its kinds that
replaced it speak their protocols themselves. Read from the source with ``ast``, so an import
inside a function counts too; the end-to-end hostile drills also watch the orchestrator's
execs in the kernel (tests/e2e/test_hostile_playbooks.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Modules and calls that start programs.
PROGRAM_MODULES = {"subprocess", "pty", "multiprocessing"}
PROGRAM_CALLS = {
    "system",
    "popen",
    "spawnl",
    "spawnv",
    "spawnve",
    "posix_spawn",
    "posix_spawnp",
    "execv",
    "execve",
    "execvp",
    "execvpe",
    "execl",
    "execlp",
    "fork",
    "forkpty",
}


def program_starts(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in PROGRAM_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            PROGRAM_MODULES
        ):
            found.append(str(node.module))
        elif isinstance(node, ast.Attribute) and node.attr in PROGRAM_CALLS:
            found.append(node.attr)
    return found


def test_no_module_of_the_verifier_can_start_a_program() -> None:
    files = sorted((ROOT / "verifier").rglob("*.py"))
    assert files
    problems = {
        str(path.relative_to(ROOT)): starts
        for path in files
        if (starts := program_starts(path.read_text()))
    }
    assert problems == {}


def test_the_scan_sees_each_way_of_starting_a_program() -> None:
    source = (
        "import subprocess\nfrom multiprocessing import Process\nimport os\nos.execv('x', [])\n"
    )
    assert program_starts(source) == ["subprocess", "multiprocessing", "execv"]
