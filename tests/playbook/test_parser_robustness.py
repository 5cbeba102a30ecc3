"""Bad input of any shape gives a PlaybookError with positions, never a traceback."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import yaml

from drills.playbook import loader
from drills.playbook.errors import Issue, PlaybookError
from drills.playbook.loader import MAX_BYTES, Position, load_yaml
from drills.playbook.parser import parse_playbook

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "playbooks"
DEMO = (FIXTURES / "valid" / "partition-demo.yaml").read_text()


def test_billion_laughs_is_rejected_in_under_50_ms() -> None:
    bomb = (FIXTURES / "invalid" / "billion-laughs.yaml").read_text()
    started = time.perf_counter()
    with pytest.raises(PlaybookError, match="anchors"):
        parse_playbook(bomb)
    assert time.perf_counter() - started < 0.05


def test_oversized_file_is_rejected_before_parsing() -> None:
    text = DEMO + "#" * MAX_BYTES
    with pytest.raises(PlaybookError, match="larger than 256 KiB") as caught:
        parse_playbook(text, "big.yaml")
    assert (caught.value.issues[0].line, caught.value.issues[0].column) == (1, 1)


# Nesting deeper than a playbook ever needs. Which layer stops each one depends on the parser:
# libyaml as PyYAML 6.0.4 ships it has its own flow-level limit and answers with a YAML syntax
# error; the pure-Python parser has none, and the loader's MAX_DEPTH stops it. Either is fine;
# what matters is below, not whose words the message uses.
DEEP = {
    "unclosed flow sequences": "a: " + "[" * 100_000,
    "closed flow sequences": "a: " + "[" * 2_000 + "]" * 2_000,
    "unclosed flow mappings": "a: " + "{a: " * 25_000,
    # No parser limits block nesting: the loader's MAX_DEPTH is the only layer here.
    "compact block sequences": "a:\n" + "- " * 100_000 + "x\n",
}


@pytest.mark.parametrize("parser", ["configured", "pure-python"])
@pytest.mark.parametrize("text", DEEP.values(), ids=DEEP.keys())
def test_deep_nesting_is_rejected_at_a_position_quickly_without_recursion(
    text: str, parser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if parser == "pure-python":  # what the loader falls back to when PyYAML lacks libyaml
        monkeypatch.setattr(loader, "_SafeLoader", yaml.SafeLoader)
    started = time.perf_counter()
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, "deep.yaml")
    elapsed = time.perf_counter() - started

    # parse_playbook turns any stray exception into a PlaybookError at 1:1, so a blown stack
    # would pass as a rejection: it must not be anywhere in the chain.
    chained = caught.value.__context__
    while chained is not None:
        assert not isinstance(chained, RecursionError)
        chained = chained.__context__
    lines = text.split("\n")
    assert caught.value.issues
    for issue in caught.value.issues:
        assert issue.file == "deep.yaml"
        assert 1 <= issue.line <= len(lines)
        assert 1 <= issue.column <= len(lines[issue.line - 1]) + 1
    # A bound for a hang or a blow-up, not a benchmark: libyaml answers in about a millisecond,
    # the pure-Python parser in about 0.1 s.
    assert elapsed < 1.0


def test_a_number_too_long_for_python_is_an_issue_where_it_is_written() -> None:
    # int() refuses more than 4300 digits; that must be a sentence at the number, not 1:1.
    text = DEMO.replace("duration: 10s", "duration: 10s\n    ports: [" + "9" * 5000 + "]")

    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, "pb.yaml")

    (issue,) = caught.value.issues
    assert (issue.line, issue.column) == (22, 13)
    assert issue.message == "a number 5000 characters long is too long for a playbook"


def test_an_assertion_of_216_kb_of_parentheses_is_one_issue_at_the_17th_quickly() -> None:
    # From a security review: this took two seconds, and the assertion is parsed three times
    # per playbook (model, cross checks, the SLA's expression).
    line = "    assert: error_rate(checkout, 3s) > 50%\n"
    text = DEMO.replace(line, "    assert: " + "(" * 216_000 + "\n")
    assert len(text) < MAX_BYTES

    started = time.perf_counter()
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, "pb.yaml")
    elapsed = time.perf_counter() - started

    (issue,) = caught.value.issues
    assert (issue.line, issue.column) == (27, len("    assert: ") + 1 + 16)
    assert "nested too deeply: more than 16 levels" in issue.message
    assert elapsed < 0.5  # a bound for a hang; bench/assertions.py has the real figure


def test_all_issues_are_reported_sorted_by_position() -> None:
    text = (
        DEMO.replace("drillhall/v1", "drillhall/v9")
        .replace("    target: db\n", "    target: dbx\n")
        .replace("every: 250ms", "evry: 250ms")
        .replace("during: recovery", "during: later")
    )
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, "pb.yaml")
    issues = caught.value.issues
    positions = [(issue.line, issue.column) for issue in issues]
    assert positions == sorted(positions)
    messages = str(caught.value)
    assert len(issues) == 4
    for needle in ("drillhall/v9", "unknown key 'evry'", "unknown target 'dbx'", "'later'"):
        assert needle in messages
    assert messages.splitlines() == [str(issue) for issue in issues]


def test_issue_renders_file_line_column_and_hint() -> None:
    issue = Issue("pb.yaml", 3, 7, "unknown key 'duraton'", "did you mean 'duration'?")
    assert str(issue) == "pb.yaml:3:7: unknown key 'duraton' (hint: did you mean 'duration'?)"
    assert str(Issue("pb.yaml", 1, 1, "empty")) == "pb.yaml:1:1: empty"


def test_loader_maps_paths_to_key_and_value_positions() -> None:
    loaded = load_yaml(DEMO)
    marks = loaded.marks[("steps", 1, "duration")]
    assert marks.key == Position(21, 5)
    assert marks.value == Position(21, 15)
    assert loaded.marks[("steps", 1, "from", 0)].value == Position(20, 12)
    assert loaded.position(("steps", 1, "nonexistent")) == loaded.marks[("steps", 1)].value


def test_loader_keeps_dates_and_keys_as_written() -> None:
    loaded = load_yaml("on: 2024-01-01\nyes: 1_000\nn: ~\nf: 1.5\nb: true\n")
    assert loaded.data == {"on": "2024-01-01", "yes": 1000, "n": None, "f": 1.5, "b": True}


@pytest.mark.parametrize(
    "text",
    [
        "\x00",
        "{",
        "]",
        "a: b: c",
        "'unterminated",
        "- - - -",
        "? ? ?",
        "apiVersion: [1, {2: 3}]\nkind: {}\nmetadata: []\ntargets: 7\n"
        "probes: [[]]\nsteps: [[], 1, null]",
        "apiVersion: drillhall/v1\nslas: [{assert: '((((((((((((((((((((((((((((((('}]",
        "slas: [{name: x, assert: '" + "not " * 5000 + "count(a, 1s) > 1'}]",
        "%YAML 1.1\n%YAML 1.1\n---\na: 1",
        "\ufeffa: 1",
        'a: "\\ud800"',
    ],
)
def test_malformed_input_gives_playbook_error(text: str) -> None:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, "bad.yaml")
    assert all(issue.line >= 1 and issue.column >= 1 for issue in caught.value.issues)


def test_random_corruptions_of_the_demo_never_crash() -> None:
    rng = random.Random(20261123)
    alphabet = list(":-[]{}&*!|>'\"#%@`, \n\t") + ["x", "1", "s", "%", "("]
    for _ in range(300):
        chars = list(DEMO)
        for _ in range(rng.randint(1, 6)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        try:
            parse_playbook("".join(chars))
        except PlaybookError as error:
            assert error.issues


def test_non_utf8_file_is_an_issue_at_1_1(tmp_path: Path) -> None:
    from drills.playbook.parser import parse_file

    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"kind: caf\xe9\n")
    with pytest.raises(PlaybookError, match="not UTF-8") as caught:
        parse_file(path)
    assert (caught.value.issues[0].line, caught.value.issues[0].column) == (1, 1)


def _big_playbook(limit: int) -> str:
    """A valid playbook of just under ``limit`` bytes: a long drill written as people write
    them (block style, named steps, comments)."""
    head, tail = DEMO.split("slas:")
    head = head.replace("  db: {host: db1}\n", "  db: {host: db1}\n  cache: {host: db1}\n")
    # Hundreds of rounds last a few hours: the drill needs a limit that long (the most is 24h).
    tail += "limits: {max_duration: 24h}\n"
    block = (
        "  # Round {i}: cut the cache off, then slow the database while the cache warms up.\n"
        "  - name: round {i}, cut the cache off from the web tier\n"
        "    fault: network.partition\n"
        "    target: cache\n"
        "    from: [web]\n"
        "    duration: 10s\n"
        "  - name: round {i}, slow database while the cache warms up\n"
        "    fault: network.latency\n"
        "    target: web\n"
        "    to: [db]\n"
        "    latency: 150ms\n"
        "    jitter: 20ms\n"
        "    duration: 5s\n"
        "  - wait: 500ms   # let it settle before the next round\n"
    )
    steps: list[str] = []
    size = len(head) + len(tail) + len("slas:")
    while size + len(block) + 8 < limit:
        steps.append(block.format(i=len(steps)))
        size += len(steps[-1])
    return head + "".join(steps) + "slas:" + tail


def _best_of_three(text: str, expect_error: str | None = None) -> float:
    timings = []
    for _ in range(3):  # the best of three: one run can lose the CPU to another process
        started = time.perf_counter()
        if expect_error is None:
            parse_playbook(text, "big.yaml")
        else:
            with pytest.raises(PlaybookError, match=expect_error):
                parse_playbook(text, "big.yaml")
        timings.append(time.perf_counter() - started)
    return min(timings)


# Absolute speed lives in bench/validate_playbook.py; here only the shape of the cost is
# checked: validation grows linearly with the file (8x the bytes, well under 16x the time),
# so no input can make it blow up.
def test_validation_time_grows_linearly_up_to_the_256_kib_cap() -> None:
    big, small = _big_playbook(MAX_BYTES - 1024), _big_playbook(32 * 1024)
    assert len(big.encode()) > 250 * 1024
    assert len(parse_playbook(big, "big.yaml").steps) > 1500
    ratio = _best_of_three(big) / _best_of_three(small)
    assert ratio < 16, f"8x the bytes took {ratio:.1f}x the time"


def test_an_error_at_the_end_of_a_256_kib_playbook_costs_no_more_than_a_valid_file() -> None:
    text = _big_playbook(MAX_BYTES - 1024)
    bad = text.replace("during: recovery", "during: later")
    assert _best_of_three(bad, "'later'") < 2 * _best_of_three(text)
