"""The layout shows the layers: no two modules share a name unless they are the two ends of one
thing (and then each docstring names the other), and the required top level is there."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("drillhall", "drills", "injector", "verifier", "ebpf")
REQUIRED = ("manage.py", "pyproject.toml", "drills", "injector", "verifier", "ebpf",
            "templates", "tests")  # fmt: skip
# Pairs that are two ends of one thing; each one's docstring must name the other's path.
TWO_ENDS = {
    "halt.py": {"drills/web/halt.py", "injector/halt.py"},
    "urls.py": {"drillhall/urls.py", "drills/web/urls.py"},
}


def modules() -> dict[str, list[str]]:
    by_name: dict[str, list[str]] = defaultdict(list)
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if path.name == "__init__.py" or "/migrations/" in relative:
                continue
            by_name[path.name].append(relative)
    return by_name


def test_the_required_top_level_is_there() -> None:
    assert [name for name in REQUIRED if not (ROOT / name).exists()] == []


def test_no_two_modules_share_a_name_unless_they_are_two_ends_of_one_thing() -> None:
    shared = {name: sorted(paths) for name, paths in modules().items() if len(paths) > 1}
    assert {name: set(paths) for name, paths in shared.items()} == TWO_ENDS


def test_the_two_ends_name_each_other_in_their_docstrings() -> None:
    for paths in TWO_ENDS.values():
        for path in paths:
            (other,) = paths - {path}
            doc = ast.get_docstring(ast.parse((ROOT / path).read_text())) or ""
            assert other in doc, f"{path} does not say that {other} is its other end"
