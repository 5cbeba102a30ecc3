"""The framework-free core stays free: verifier/, injector/ and ebpf/ import neither the web app
and playbook package (drills, drillhall) nor Django or Celery.

An agent host runs injector/ and ebpf/ without the web app installed, and verifier/ is the core
both sides share, so an import that crosses this line breaks a host at start, or ties the core to
the playbook package. Read from the source with ``ast`` (nothing is imported), so an import
under ``if TYPE_CHECKING:`` or inside a function counts too.

drills/engine and drills/gameday are held to a looser line: they run on the playbook package,
but import no framework and nothing of the shells that call them (the web app, the CLI).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ("verifier", "injector", "ebpf")
FORBIDDEN = frozenset({"drills", "drillhall", "django", "celery"})
# Each side's one thin entry point may use its framework: this is the agent's Celery app.
ALLOWED = {"injector/agent.py": frozenset({"celery"})}


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for every absolute import, and every import_module("literal") call."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in {"import_module", "__import__"} and isinstance(first, ast.Constant):
                if isinstance(first.value, str):
                    found.append((node.lineno, first.value))
    return found


def forbidden_imports(path: Path) -> list[str]:
    relative = path.relative_to(ROOT).as_posix()
    allowed = ALLOWED.get(relative, frozenset())
    tree = ast.parse(path.read_text(), filename=relative)
    return [
        f"{relative}:{line} imports {module}"
        for line, module in imported_modules(tree)
        if module.split(".")[0] in FORBIDDEN - allowed
    ]


@pytest.mark.parametrize("package", CORE)
def test_the_core_imports_no_framework_and_nothing_from_drills(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files: the walk is looking in the wrong place"
    problems = [problem for path in files for problem in forbidden_imports(path)]
    assert not problems, "\n".join(problems)


def test_the_walk_sees_every_form_of_import(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import os, django.db\n"
        "from drills.engine.plan import PlannedProbe\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    from celery import Celery\n"
        "def later():\n"
        "    import drillhall.settings\n"
        "    return importlib.import_module('drills.web')\n"
    )
    found = [module for _, module in imported_modules(ast.parse(source))]
    assert sorted(found) == sorted(
        ["typing", "os", "django.db", "drills.engine.plan", "celery", "drillhall.settings",
         "drills.web"]
    )  # fmt: skip


# The engine may use the playbook package, but no framework and no shell: Celery, Django and
# the CLI call it, never the other way round.
ENGINE_FORBIDDEN = ("django", "celery", "drillhall", "drills.web", "drills.cli")


@pytest.mark.parametrize("package", ["engine", "gameday"])
def test_the_engine_and_game_days_import_no_framework_and_no_shell(package: str) -> None:
    files = sorted((ROOT / "drills" / package).rglob("*.py"))
    assert files, f"drills/{package}/ has no Python files: the walk is looking in the wrong place"
    problems = [
        f"{path.relative_to(ROOT).as_posix()}:{line} imports {module}"
        for path in files
        for line, module in imported_modules(ast.parse(path.read_text()))
        if any(module == f or module.startswith(f + ".") for f in ENGINE_FORBIDDEN)
    ]
    assert not problems, "\n".join(problems)
