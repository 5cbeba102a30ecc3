"""An experiment is read under the playbook loader's limits, and refused with a position.

From a security review: 371 bytes of YAML aliases became 523 KB of playbook, and nothing
bounded the size or depth of an experiment. The fixtures are under tests/fixtures/ctk/invalid.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from drills.ctk import CtkError, load_experiment, parse_experiment
from drills.playbook.loader import MAX_BYTES, MAX_DEPTH

INVALID = Path(__file__).resolve().parents[1] / "fixtures" / "ctk" / "invalid"

HEAD = "title: t\ndescription: d\n"
METHOD = "method:\n  - {type: action, name: a, provider: {type: python, module: m, func: f}}\n"


def problems(text: str, yaml_ok: bool = True) -> list[str]:
    with pytest.raises(CtkError) as caught:
        parse_experiment(text, "x", yaml_ok=yaml_ok)
    return caught.value.problems


def experiment(arguments: Any, description: str = "d") -> dict[str, Any]:
    """A valid experiment whose one action has these process arguments."""
    provider = {"type": "process", "path": "true", "arguments": arguments}
    action = {"type": "action", "name": "a", "provider": provider}
    return {"title": "t", "description": description, "method": [action]}


def nested(levels: int) -> Any:
    """Arguments that make the experiment ``levels`` deep, counting the top-level object as 1.

    The top object, the method list, the action and its provider are 4 levels.
    """
    value: Any = "x"
    for _ in range(levels - 4):
        value = [value]
    return value


# -- what YAML may not hold --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        (
            "alias-bomb.yaml",
            "line 3, column 6: anchors (&a) are not allowed in experiments "
            "(hint: write the value out in full)",
        ),
        ("too-deep.yaml", f"line 35, column 65: nesting deeper than {MAX_DEPTH} levels"),
        ("too-deep.json", f"line 39, column 65: nesting deeper than {MAX_DEPTH} levels"),
        ("too-large.json", f"line 1, column 1: experiment is larger than {MAX_BYTES // 1024} KiB"),
    ],
)
def test_the_review_fixtures_are_refused_with_a_sentence_and_a_position(
    name: str, problem: str
) -> None:
    with pytest.raises(CtkError) as caught:
        load_experiment(INVALID / name)
    assert caught.value.problems == [problem]


@pytest.mark.parametrize(
    ("yaml", "problem"),
    [
        (HEAD + "x: &keep 1\n" + METHOD, "line 3, column 4: anchors (&keep) are not allowed"),
        (HEAD + "x: !!python/object/apply:os.system [true]\n" + METHOD, "explicit tags"),
        (HEAD + "x: !!str 1\n" + METHOD, "line 3, column 4: explicit tags (!!str)"),
        (HEAD + "title: again\n" + METHOD, "line 3, column 1: duplicate key 'title'"),
        (HEAD + METHOD + "---\n" + HEAD + METHOD, "one experiment per file"),
    ],
    ids=["anchor", "python-tag", "str-tag", "duplicate-key", "two-documents"],
)
def test_yaml_is_plain_data_as_in_a_playbook(yaml: str, problem: str) -> None:
    found = problems(yaml)
    assert any(problem in p for p in found), found


# -- depth -------------------------------------------------------------------------------


@pytest.mark.parametrize("yaml_ok", [False, True], ids=["json-file", "yaml-file"])
def test_json_as_deep_as_the_loader_allows_is_read_and_one_level_more_is_refused(
    yaml_ok: bool,
) -> None:
    deepest = parse_experiment(json.dumps(experiment(nested(MAX_DEPTH))), "x", yaml_ok=yaml_ok)
    assert deepest["method"][0]["provider"]["arguments"] == nested(MAX_DEPTH)

    text = json.dumps(experiment(nested(MAX_DEPTH + 1)))
    run = "[" * (MAX_DEPTH + 1 - 4)  # the arguments' lists, below the 4 levels above them
    column = text.index(run) + len(run)  # the last '[' of the run (columns count from 1)
    assert problems(text, yaml_ok) == [
        f"line 1, column {column}: nesting deeper than {MAX_DEPTH} levels"
    ]


def test_yaml_as_deep_as_the_loader_allows_is_read_and_one_level_more_is_refused() -> None:
    def block(levels: int) -> str:
        # The top mapping is level 1, configuration's mapping level 2, and so on.
        keys = [f"{'  ' * (level - 1)}k{level}:" for level in range(2, levels + 1)]
        return HEAD + "configuration:\n" + "\n".join(keys) + " v\n" + METHOD

    assert parse_experiment(block(MAX_DEPTH))["configuration"]["k2"]["k3"]
    assert problems(block(MAX_DEPTH + 1)) == [
        # The mapping of k33, written after its 64 spaces of indentation.
        f"line {MAX_DEPTH + 3}, column {len('  ' * MAX_DEPTH) + 1}: "
        f"nesting deeper than {MAX_DEPTH} levels"
    ]


@pytest.mark.parametrize("yaml_ok", [False, True], ids=["json-file", "yaml-file"])
def test_a_json_nesting_bomb_is_a_sentence_not_a_recursion_error(yaml_ok: bool) -> None:
    text = '{"title": "t", "method": ' + "[" * 100_000
    started = time.perf_counter()
    found = problems(text, yaml_ok)
    assert time.perf_counter() - started < 0.5  # a bound for a hang, not a benchmark
    assert len(found) == 1 and "nest" in found[0] and found[0].startswith("line 1, column ")


def test_brackets_inside_json_strings_are_not_nesting() -> None:
    arguments = ["[" * 100, '{"[\\"' * 50, "\\[" * 40]
    data = parse_experiment(json.dumps(experiment(arguments)), "x", yaml_ok=False)
    assert data["method"][0]["provider"]["arguments"] == arguments


def test_json_is_still_read_as_json() -> None:
    # YAML 1.1 reads 1e1 as a string: JSON must not go through the YAML loader.
    pauses = '"name": "a", "pauses": {"after": 1e1}'
    text = json.dumps(experiment(["x"])).replace('"name": "a"', pauses)
    data = parse_experiment(text, "x", yaml_ok=True)
    assert data["method"][0]["pauses"] == {"after": 10.0}


# -- size --------------------------------------------------------------------------------


def sized(size: int) -> str:
    """A valid JSON experiment exactly ``size`` bytes long."""
    text = json.dumps(experiment(["x"], description=""))
    filler = size - len(text.encode())
    return json.dumps(experiment(["x"], description="d" * filler))


def test_an_experiment_of_the_loaders_size_is_read_and_one_byte_more_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "experiment.json"
    path.write_text(sized(MAX_BYTES))
    assert load_experiment(path)["title"] == "t"
    assert parse_experiment(sized(MAX_BYTES), "x")["title"] == "t"

    path.write_text(sized(MAX_BYTES + 1))
    refused = f"line 1, column 1: experiment is larger than {MAX_BYTES // 1024} KiB"
    with pytest.raises(CtkError) as caught:
        load_experiment(path)
    assert caught.value.problems == [refused]
    assert problems(sized(MAX_BYTES + 1)) == [refused]
    # Bytes, not characters: 'é' is two.
    assert problems(sized(MAX_BYTES).replace('"t"', '"\u00e9"')) == [refused]


def test_a_larger_file_cut_inside_a_character_is_too_large_not_badly_encoded(
    tmp_path: Path,
) -> None:
    # Only MAX_BYTES + 1 bytes are read, which here ends halfway through an 'é' (2 bytes).
    path = tmp_path / "experiment.yaml"
    path.write_text("\u00e9" * MAX_BYTES, encoding="utf-8")
    with pytest.raises(CtkError) as caught:
        load_experiment(path)
    assert caught.value.problems == [
        f"line 1, column 1: experiment is larger than {MAX_BYTES // 1024} KiB"
    ]
